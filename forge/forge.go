// Package forge lets pull requests drive previews: webhooks from GitHub,
// GitLab and Gitea come in verified and normalised into Events, wait in a
// queue that survives a restart, and open, update or destroy previews; the
// state of each preview goes back to its pull request as a commit status
// and one comment kept up to date (on GitHub, also a deployment).
//
// What differs from one forge to the next — how a delivery is signed, what
// its payload looks like, which API calls report a status — is behind
// Client, one package per forge (github, gitlab, gitea).
package forge

import (
	"context"
	"net/http"
)

// Action is what happened to a pull request, as every forge's action
// names map to it.
type Action string

const (
	Opened    Action = "opened"    // opened or reopened
	Pushed    Action = "pushed"    // new commits at its head (synchronize)
	Closed    Action = "closed"    // closed or merged
	Labeled   Action = "labeled"   // a label was added
	Commented Action = "commented" // a comment on it
	Ignored   Action = ""          // nothing previews care about
)

// Event is one webhook delivery, normalised.
type Event struct {
	Delivery string `json:"delivery"` // the forge's delivery ID
	Action   Action `json:"action"`
	Verb     string `json:"verb"`    // the forge's own word: "synchronized", "reopened"
	Project  string `json:"project"` // the base repository's name on the forge: "alice/shop"
	Number   int    `json:"number"`  // the pull (merge) request's number
	Title    string `json:"title,omitempty"`
	Head     string `json:"head"`     // the head commit
	HeadRef  string `json:"head_ref"` // the head branch
	// Fork is a pull request from another repository than the base.
	Fork   bool     `json:"fork"`
	Labels []string `json:"labels,omitempty"` // the labels it carries now
	Label  string   `json:"label,omitempty"`  // the label added, for Labeled
	Sender string   `json:"sender"`           // who did it: the forge's login
	Author string   `json:"author,omitempty"` // who opened the pull request
	Merged bool     `json:"merged,omitempty"`
	Body   string   `json:"body,omitempty"` // a comment's text
	// IsPR is false for a comment on an issue that is not a pull request.
	IsPR bool `json:"is_pr"`
}

// Status is what tandem reports on a commit.
type Status struct {
	State       string // "pending", "success", "failure", "error"
	URL         string // the preview's URL
	Description string // short: "ready", "building: build web"
	Context     string // "tandem/preview"
}

// Client is one forge's webhook format and API. Methods that call the API
// return an error whose message never carries a credential.
type Client interface {
	// Kind is "github", "gitlab" or "gitea".
	Kind() string
	// Verify checks that a delivery's body was signed with the webhook's
	// secret (or carries its token), in constant time, before anything in
	// it is parsed. It returns EUNAUTHORIZED when it was not.
	Verify(h http.Header, body []byte) error
	// Parse normalises a verified delivery; an event previews do not care
	// about comes back with Action Ignored.
	Parse(h http.Header, body []byte) (*Event, error)

	// SetStatus sets the commit status tandem owns on sha.
	SetStatus(ctx context.Context, project, sha string, s Status) error
	// FindComment returns the ID of the pull request's comment whose body
	// contains marker, 0 if there is none.
	FindComment(ctx context.Context, project string, number int, marker string) (int64, error)
	CreateComment(ctx context.Context, project string, number int, body string) (int64, error)
	// EditComment replaces a comment's body; ENOTFOUND if it is gone.
	EditComment(ctx context.Context, project string, number int, id int64, body string) error
	// CanWrite reports whether user may push to project: who may allow a
	// fork's pull request.
	CanWrite(ctx context.Context, project, user string) (bool, error)
	// ChangedFiles lists the paths a pull request changes.
	ChangedFiles(ctx context.Context, project string, number int) ([]string, error)
}

// Deployer is a Client that also records deployments (GitHub): an
// environment per preview, with its URL, on the pull request's timeline.
type Deployer interface {
	// Deploy creates a deployment of sha to environment and returns its ID.
	Deploy(ctx context.Context, project, sha, environment string) (int64, error)
	// DeploymentStatus adds a status to a deployment: "queued",
	// "in_progress", "success", "failure", "error", "inactive".
	DeploymentStatus(ctx context.Context, project string, id int64, state, url, description string) error
}

// Credentials is a Client that can also give git a header to fetch a
// private repository with ("Basic ...", "Bearer ...").
type Credentials interface {
	GitAuthorization(ctx context.Context) (string, error)
}

// PRRef is how a forge of kind names pull request n's head in git.
func PRRef(kind string) string {
	if kind == "gitlab" {
		return "refs/merge-requests/%d/head"
	}
	return "refs/pull/%d/head"
}
