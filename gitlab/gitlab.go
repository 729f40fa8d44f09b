// Package gitlab is tandem's client of GitLab (gitlab.com or self-managed):
// webhooks verified by their X-Gitlab-Token, commit statuses, merge
// request notes, members' access levels and merge requests' diffs through
// GitLab's official Go client. GitLab calls pull requests merge requests
// and comments notes; tandem's words are the forge package's.
package gitlab

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/forge"
)

// Config is how tandem reaches a GitLab.
type Config struct {
	URL           string // "" for gitlab.com, or a self-managed GitLab's root
	Token         string // a project or group access token: api scope, Developer role
	WebhookSecret []byte // the webhook's secret token
	HTTP          *http.Client
}

// Client is a GitLab as a forge.
type Client struct {
	api    *gl.Client
	token  string
	secret []byte
}

var (
	_ forge.Client      = (*Client)(nil)
	_ forge.Credentials = (*Client)(nil)
)

// New returns a client of a GitLab.
func New(cfg Config) (*Client, error) {
	if len(cfg.WebhookSecret) == 0 {
		return nil, tandem.Errorf(tandem.EINVALID, "gitlab: no webhook secret")
	}
	if cfg.Token == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "gitlab: no token")
	}
	hc := cfg.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	opts := []gl.ClientOptionFunc{gl.WithHTTPClient(hc), gl.WithCustomRetryMax(2)}
	if cfg.URL != "" {
		opts = append(opts, gl.WithBaseURL(strings.TrimSuffix(cfg.URL, "/")+"/api/v4"))
	}
	api, err := gl.NewClient(cfg.Token, opts...)
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "gitlab: %v", err)
	}
	return &Client{api: api, token: cfg.Token, secret: cfg.WebhookSecret}, nil
}

func (c *Client) Kind() string { return "gitlab" }

// Verify compares X-Gitlab-Token with the secret in constant time (their
// digests, so not even the length shows).
func (c *Client) Verify(h http.Header, _ []byte) error {
	got := h.Get("X-Gitlab-Token")
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256(c.secret)
	if got == "" || subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		return tandem.Errorf(tandem.EUNAUTHORIZED, "no valid X-Gitlab-Token")
	}
	return nil
}

// Parse normalises a Merge Request Hook or a Note Hook on a merge request.
func (c *Client) Parse(h http.Header, body []byte) (*forge.Event, error) {
	id := h.Get("Idempotency-Key") // the same on a retry, as a delivery ID should be
	if id == "" {
		id = h.Get("X-Gitlab-Event-UUID")
	}
	ev := &forge.Event{Delivery: id}
	switch gl.EventType(h.Get("X-Gitlab-Event")) {
	case gl.EventTypeMergeRequest:
		var m gl.MergeEvent
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "merge request payload: %v", err)
		}
		a := m.ObjectAttributes
		ev.Verb, ev.Project, ev.Number, ev.IsPR = a.Action, m.Project.PathWithNamespace, int(a.IID), true
		ev.Title, ev.Head, ev.HeadRef = a.Title, a.LastCommit.ID, a.SourceBranch
		ev.Fork = a.SourceProjectID != 0 && a.SourceProjectID != a.TargetProjectID
		if m.User != nil {
			ev.Sender = m.User.Username
		}
		for _, l := range a.Labels {
			ev.Labels = append(ev.Labels, l.Title)
		}
		switch {
		case a.Action == "open" || a.Action == "reopen":
			ev.Action = forge.Opened
		case a.Action == "update" && a.OldRev != "":
			ev.Action = forge.Pushed
		case a.Action == "update" && len(m.Changes.Labels.Current)+len(m.Changes.Labels.Previous) > 0:
			ev.Action = forge.Labeled
		case a.Action == "close" || a.Action == "merge":
			ev.Action, ev.Merged = forge.Closed, a.Action == "merge"
		}
	case gl.EventTypeNote:
		var n gl.MergeCommentEvent
		if err := json.Unmarshal(body, &n); err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "note payload: %v", err)
		}
		if n.ObjectAttributes.NoteableType != "MergeRequest" {
			return ev, nil
		}
		ev.Project, ev.Number, ev.IsPR = n.Project.PathWithNamespace, int(n.MergeRequest.IID), true
		ev.Body, ev.Head = n.ObjectAttributes.Note, n.MergeRequest.LastCommit.ID
		if n.User != nil {
			ev.Sender = n.User.Username
		}
		ev.Action = forge.Commented
	}
	if ev.Action != forge.Ignored && (ev.Project == "" || ev.Number <= 0) {
		return nil, tandem.Errorf(tandem.EINVALID, "payload without a project or a merge request")
	}
	return ev, nil
}

var states = map[string]gl.BuildStateValue{"pending": gl.Running, "success": gl.Success, "failure": gl.Failed, "error": gl.Failed}

// SetStatus sets the commit status named s.Context on sha.
func (c *Client) SetStatus(ctx context.Context, project, sha string, s forge.Status) error {
	opt := &gl.SetCommitStatusOptions{State: states[s.State], Name: gl.Ptr(s.Context), Description: gl.Ptr(s.Description)}
	if s.URL != "" {
		opt.TargetURL = gl.Ptr(s.URL)
	}
	_, _, err := c.api.Commits.SetCommitStatus(project, sha, opt, gl.WithContext(ctx))
	// GitLab refuses to set a status to the state it is in ("Cannot
	// transition status via :run from :running"): it already says so.
	var e *gl.ErrorResponse
	if errors.As(err, &e) && e.Response != nil && e.Response.StatusCode == http.StatusBadRequest && strings.Contains(e.Message, "Cannot transition status") {
		return nil
	}
	return apiError(err)
}

// FindComment returns the note on the merge request that holds marker.
func (c *Client) FindComment(ctx context.Context, project string, number int, marker string) (int64, error) {
	opt := &gl.ListMergeRequestNotesOptions{ListOptions: gl.ListOptions{PerPage: 50}}
	for page := int64(1); page <= 40; page++ {
		opt.Page = page
		notes, resp, err := c.api.Notes.ListMergeRequestNotes(project, int64(number), opt, gl.WithContext(ctx))
		if err != nil {
			return 0, apiError(err)
		}
		for _, n := range notes {
			if strings.Contains(n.Body, marker) {
				return n.ID, nil
			}
		}
		if resp == nil || resp.NextPage == 0 || len(notes) == 0 {
			break
		}
	}
	return 0, nil
}

func (c *Client) CreateComment(ctx context.Context, project string, number int, body string) (int64, error) {
	n, _, err := c.api.Notes.CreateMergeRequestNote(project, int64(number), &gl.CreateMergeRequestNoteOptions{Body: gl.Ptr(body)}, gl.WithContext(ctx))
	if err != nil {
		return 0, apiError(err)
	}
	return n.ID, nil
}

func (c *Client) EditComment(ctx context.Context, project string, number int, id int64, body string) error {
	_, _, err := c.api.Notes.UpdateMergeRequestNote(project, int64(number), id, &gl.UpdateMergeRequestNoteOptions{Body: gl.Ptr(body)}, gl.WithContext(ctx))
	return apiError(err)
}

// CanWrite reports whether user is a Developer or more in project,
// directly or through a group.
func (c *Client) CanWrite(ctx context.Context, project, user string) (bool, error) {
	users, _, err := c.api.Users.ListUsers(&gl.ListUsersOptions{Username: gl.Ptr(user)}, gl.WithContext(ctx))
	if err != nil {
		return false, apiError(err)
	}
	if len(users) != 1 {
		return false, nil
	}
	m, _, err := c.api.ProjectMembers.GetInheritedProjectMember(project, users[0].ID, gl.WithContext(ctx))
	if err != nil {
		if tandem.ErrorCode(apiError(err)) == tandem.ENOTFOUND {
			return false, nil
		}
		return false, apiError(err)
	}
	return m.AccessLevel >= gl.DeveloperPermissions, nil
}

// ChangedFiles lists the paths a merge request changes.
func (c *Client) ChangedFiles(ctx context.Context, project string, number int) ([]string, error) {
	var out []string
	opt := &gl.ListMergeRequestDiffsOptions{ListOptions: gl.ListOptions{PerPage: 100}}
	for page := int64(1); page <= 30; page++ {
		opt.Page = page
		diffs, resp, err := c.api.MergeRequests.ListMergeRequestDiffs(project, int64(number), opt, gl.WithContext(ctx))
		if err != nil {
			return nil, apiError(err)
		}
		for _, d := range diffs {
			out = append(out, d.NewPath)
			if d.OldPath != d.NewPath {
				out = append(out, d.OldPath)
			}
		}
		if resp == nil || resp.NextPage == 0 || len(diffs) == 0 {
			break
		}
	}
	return out, nil
}

// GitAuthorization is the header git fetches with: the access token as
// the password of any user name, as GitLab takes it over HTTPS.
func (c *Client) GitAuthorization(context.Context) (string, error) {
	return "Basic " + basic("oauth2", c.token), nil
}

// apiError gives an API error tandem's code.
func apiError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gl.ErrNotFound) {
		return &tandem.Error{Code: tandem.ENOTFOUND, Message: "GitLab: 404 Not Found"}
	}
	var e *gl.ErrorResponse
	if errors.As(err, &e) && e.Response != nil {
		code := tandem.EUNAVAILABLE
		switch e.Response.StatusCode {
		case http.StatusNotFound:
			code = tandem.ENOTFOUND
		case http.StatusBadRequest, http.StatusUnprocessableEntity:
			code = tandem.EINVALID
		}
		return &tandem.Error{Code: code, Message: fmt.Sprintf("%s %s: %d %s", e.Response.Request.Method, e.Response.Request.URL.Path, e.Response.StatusCode, e.Message)}
	}
	return &tandem.Error{Code: tandem.EUNAVAILABLE, Message: "forge API", Err: err}
}

func basic(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}
