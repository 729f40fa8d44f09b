package tandem

import (
	"context"
	"regexp"
	"time"
)

// PreviewState is where a preview is in its life.
type PreviewState string

const (
	PreviewQueued     PreviewState = "queued"     // waiting for a worker
	PreviewBuilding   PreviewState = "building"   // checking out the commit, running builds
	PreviewSeeding    PreviewState = "seeding"    // making or copying its database
	PreviewStarting   PreviewState = "starting"   // its services are starting
	PreviewReady      PreviewState = "ready"      // served at its URL
	PreviewFailed     PreviewState = "failed"     // a step failed; Step and Error say which and why
	PreviewDestroying PreviewState = "destroying" // being removed
)

// Preview is one copy of a stack, at one commit, served at its own host:
// NAME.DOMAIN. Creating a preview of an existing name at another commit is
// an update: the new instance comes up beside the old one.
type Preview struct {
	Name   string `json:"name"` // a DNS label: "pr-7"
	Repo   string `json:"repo"` // the registered repository's name
	Ref    string `json:"ref"`  // what was asked for: a branch, refs/pull/7/head, a commit
	PR     int    `json:"pr,omitempty"`
	Commit string `json:"commit,omitempty"` // what Ref resolved to
	Branch string `json:"branch,omitempty"`

	State   PreviewState `json:"state"`
	Step    string       `json:"step,omitempty"`     // the step running, or the one that failed
	Error   string       `json:"error,omitempty"`    // why it failed
	LogTail []string     `json:"log_tail,omitempty"` // the last lines of the failed step's output

	URL string `json:"url"`
	// Asleep says the serving instance sleeps: its services are stopped,
	// its files kept, and the next request wakes it. Not stored: the
	// preview manager says.
	Asleep    bool          `json:"asleep,omitempty"`
	TTL       time.Duration `json:"ttl,omitempty"`       // zero: no expiry
	ExpiresAt time.Time     `json:"expires_at,omitzero"` // zero: never
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
	ReadyAt   time.Time     `json:"ready_at,omitzero"` // when its current instance became ready

	// Generation counts the instances made for this preview: each create or
	// update makes a new one. Serving is the generation the gateway routes
	// to (0: none yet).
	Generation int `json:"generation"`
	Serving    int `json:"serving"`

	// Binding is what the serving instance runs.
	Binding Binding `json:"binding"`

	// RequestedBy is who asked for the current generation ("gitea:alice",
	// an API caller; "" for tandem itself) and RequestReason why ("opened
	// pull request #7"): the audit log's actor and detail.
	RequestedBy   string `json:"requested_by,omitempty"`
	RequestReason string `json:"request_reason,omitempty"`
	// Untrusted marks code from outside the repository (a fork's pull
	// request): the server's own secrets are withheld from it unless the
	// repository's configuration says otherwise.
	Untrusted bool `json:"untrusted,omitempty"`
	// SourceRefs are, for services built from another repository, what was
	// asked for: service → "backend@refs/pull/515/head". Binding.Sources
	// says what that resolved to.
	SourceRefs map[string]string `json:"source_refs,omitempty"`
	// Author is who wrote the change (a pull request's author): an email
	// address where it is known, else "FORGE:LOGIN". They sign no stage of
	// its review (separation of duties).
	Author string `json:"author,omitempty"`
}

// Binding records exactly what a preview instance ran, so that an approval
// can be tied to those artifacts and nothing else.
type Binding struct {
	Repo        string            `json:"repo,omitempty"`
	Commit      string            `json:"commit,omitempty"`
	StackDigest string            `json:"stack_digest,omitempty"` // of the resolved stack, secrets left out
	Builds      map[string]string `json:"builds,omitempty"`       // service → digest of its build's inputs
	SnapshotKey string            `json:"snapshot_key,omitempty"` // the seeded database it started from
	// Sources are the services built from another repository than Repo:
	// service → "backend@<commit>".
	Sources map[string]string `json:"sources,omitempty"`
	// ReviewPlan is the digest of the review plan read from the work tree
	// at Commit (tandem.ReviewPlan.Digest): what the review was against.
	ReviewPlan string `json:"review_plan,omitempty"`
}

// Event is something that happened to a preview, in order: progress for the
// CLI now, and the audit trail's raw material later.
type Event struct {
	ID      int64     `json:"id"`
	Preview string    `json:"preview"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`   // "state", "step", "log", "error", ...
	Detail  string    `json:"detail"` // a state's name, a step's name, a line of output
}

var previewName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidPreviewName reports whether name can be a preview's host label.
func ValidPreviewName(name string) error {
	if !previewName.MatchString(name) {
		return Errorf(EINVALID, "preview name %q must be a DNS label: lower-case letters, digits and dashes, at most 63, not starting or ending with a dash", name)
	}
	return nil
}

// PreviewStore keeps previews, their secrets and their events: SQLite in the
// data directory by default. Methods return ENOTFOUND for a preview that
// does not exist.
type PreviewStore interface {
	// PutPreview creates or replaces a preview's record.
	PutPreview(ctx context.Context, p *Preview) error
	// Preview returns one preview.
	Preview(ctx context.Context, name string) (*Preview, error)
	// Previews returns every preview, by name.
	Previews(ctx context.Context) ([]*Preview, error)
	// DeletePreview removes a preview with its secrets; its events stay.
	DeletePreview(ctx context.Context, name string) error

	// Secrets returns the generated values of a preview's preview.secrets.
	// They are kept apart from the preview's record so that nothing that
	// shows a preview can show them.
	Secrets(ctx context.Context, name string) (map[string]string, error)
	// PutSecrets stores them, replacing any earlier ones.
	PutSecrets(ctx context.Context, name string, secrets map[string]string) error

	// AddEvent appends an event and returns it with its ID and time set.
	AddEvent(ctx context.Context, e Event) (Event, error)
	// Events returns a preview's events with an ID above after, oldest
	// first, at most limit (0: all).
	Events(ctx context.Context, name string, after int64, limit int) ([]Event, error)

	Close() error
}

// Source is a registered repository: where previews' code comes from.
type Source interface {
	// Resolve fetches the repository and returns the commit ref names, and
	// the branch it is on when ref names one ("" otherwise).
	Resolve(ctx context.Context, ref string) (commit, branch string, err error)
	// Checkout makes a work tree of commit at dir, which must not exist.
	Checkout(ctx context.Context, commit, dir string) error
	// Remove removes the work tree at dir; one that is already gone is no error.
	Remove(ctx context.Context, dir string) error
}
