package tandem

import (
	"context"
	"time"
)

// Delivery states: a delivery is pending until it is handled (done) or
// has failed too often to try again (failed).
const (
	DeliveryPending = "pending"
	DeliveryDone    = "done"
	DeliveryFailed  = "failed"
)

// ForgeDelivery is one webhook delivery from a forge (GitHub, GitLab,
// Gitea), its signature checked and its payload normalised, as the queue
// keeps it until it is handled.
type ForgeDelivery struct {
	Forge    string    `json:"forge"` // the forge's name in tandem.yaml
	ID       string    `json:"id"`    // the forge's delivery ID (X-GitHub-Delivery...)
	Event    []byte    `json:"event"` // the normalised event, JSON (package forge)
	Received time.Time `json:"received"`
	State    string    `json:"state"`
	Attempts int       `json:"attempts"`
	NextAt   time.Time `json:"next_at"` // when a pending delivery is due
	Error    string    `json:"error,omitempty"`
}

// ForgePR is what tandem keeps of a pull request (a GitLab merge request)
// that drives a preview: where it is, whether it may be built, and where
// tandem reports on it.
type ForgePR struct {
	Forge   string `json:"forge"`   // the forge's name in tandem.yaml
	Project string `json:"project"` // the forge's name of the repository: "alice/shop"
	Number  int    `json:"number"`
	Repo    string `json:"repo"` // the registered repository
	Preview string `json:"preview"`
	Head    string `json:"head"` // the head commit last seen
	Author  string `json:"author"`
	// Fork is a pull request whose head is in another repository: its
	// preview waits for a maintainer (Held) until AllowedHead is Head or
	// it carries the allow label.
	Fork        bool   `json:"fork"`
	Held        bool   `json:"held"`
	AllowedHead string `json:"allowed_head,omitempty"`
	AllowedBy   string `json:"allowed_by,omitempty"`
	Closed      bool   `json:"closed"`
	// CommentID is the comment tandem keeps up to date; Deployment the
	// GitHub deployment of Head (0: none yet).
	CommentID  int64 `json:"comment_id,omitempty"`
	Deployment int64 `json:"deployment,omitempty"`
	// Reported is the last state reported, so a repeat is not sent again.
	Reported  string    `json:"reported,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ForgeStore keeps webhook deliveries and pull requests: SQLite in the data
// directory by default. Lookups of what does not exist return ENOTFOUND.
type ForgeStore interface {
	// AddDelivery records a new delivery, pending; it reports false, and
	// changes nothing, if one with the same forge and ID was recorded.
	AddDelivery(ctx context.Context, d ForgeDelivery) (bool, error)
	// DueDeliveries returns up to limit pending deliveries due at now,
	// oldest first.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]ForgeDelivery, error)
	// UpdateDelivery records the outcome of an attempt: its state,
	// attempts, next time and error.
	UpdateDelivery(ctx context.Context, d ForgeDelivery) error
	// Delivery returns one delivery.
	Delivery(ctx context.Context, forge, id string) (*ForgeDelivery, error)

	// PutForgePR creates or replaces a pull request's record.
	PutForgePR(ctx context.Context, pr *ForgePR) error
	// ForgePR returns a pull request by forge, project and number.
	ForgePR(ctx context.Context, forge, project string, number int) (*ForgePR, error)
	// ForgePRByPreview returns the open pull request a preview is made for.
	ForgePRByPreview(ctx context.Context, preview string) (*ForgePR, error)
}
