package github

import (
	"encoding/json"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/forge"
)

// payload is what tandem reads of a pull_request or issue_comment delivery:
// the fields GitHub documents, which Gitea's payloads share. Only these are
// decoded, so a field either forge shapes differently (Gitea's
// issue.repository.owner is a name, GitHub's an object) cannot break it.
type payload struct {
	Action      string `json:"action"`
	Number      int    `json:"number"`
	PullRequest *struct {
		Number int    `json:"number"`
		Title  string `json:"title"`
		Merged bool   `json:"merged"`
		User   user   `json:"user"`
		Labels []struct {
			Name string `json:"name"`
		} `json:"labels"`
		Head branch `json:"head"`
		Base branch `json:"base"`
	} `json:"pull_request"`
	Issue *struct {
		Number      int             `json:"number"`
		PullRequest json.RawMessage `json:"pull_request"`
	} `json:"issue"`
	Comment *struct {
		Body string `json:"body"`
	} `json:"comment"`
	Label *struct {
		Name string `json:"name"`
	} `json:"label"`
	Repository struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
	Sender user `json:"sender"`
	IsPull bool `json:"is_pull"` // Gitea's word for a comment on a pull request
}

type user struct {
	Login string `json:"login"`
}

type branch struct {
	Ref  string `json:"ref"`
	SHA  string `json:"sha"`
	Repo *struct {
		FullName string `json:"full_name"`
	} `json:"repo"`
}

func (b branch) repo() string {
	if b.Repo == nil {
		return ""
	}
	return b.Repo.FullName
}

// ParseEvent normalises a pull_request or issue_comment delivery in
// GitHub's shape, which Gitea's payloads share (Gitea names its actions
// "synchronized" and "label_updated").
func ParseEvent(eventType, delivery string, body []byte) (*forge.Event, error) {
	ev := &forge.Event{Delivery: delivery}
	if eventType != "pull_request" && eventType != "issue_comment" {
		return ev, nil
	}
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "%s payload: %v", eventType, err)
	}
	ev.Verb, ev.Project, ev.Sender = p.Action, p.Repository.FullName, p.Sender.Login
	switch {
	case eventType == "pull_request" && p.PullRequest != nil:
		pr := p.PullRequest
		ev.Number, ev.IsPR = p.Number, true
		if ev.Number == 0 {
			ev.Number = pr.Number
		}
		ev.Title, ev.Head, ev.HeadRef = pr.Title, pr.Head.SHA, pr.Head.Ref
		ev.Fork = pr.Head.repo() != "" && pr.Head.repo() != pr.Base.repo()
		ev.Author, ev.Merged = pr.User.Login, pr.Merged
		for _, l := range pr.Labels {
			ev.Labels = append(ev.Labels, l.Name)
		}
		if p.Label != nil {
			ev.Label = p.Label.Name
		}
		switch ev.Verb {
		case "opened", "reopened":
			ev.Action = forge.Opened
		case "synchronize", "synchronized":
			ev.Action = forge.Pushed
		case "closed":
			ev.Action = forge.Closed
		case "labeled", "label_updated":
			ev.Action = forge.Labeled
		}
	case eventType == "issue_comment" && p.Issue != nil:
		ev.Number = p.Issue.Number
		ev.IsPR = p.IsPull || (len(p.Issue.PullRequest) > 0 && string(p.Issue.PullRequest) != "null")
		if p.Comment != nil {
			ev.Body = p.Comment.Body
		}
		if ev.Verb == "created" && ev.IsPR {
			ev.Action = forge.Commented
		}
	}
	if ev.Action != forge.Ignored && (ev.Project == "" || ev.Number <= 0) {
		return nil, tandem.Errorf(tandem.EINVALID, "%s payload without a repository or a number", eventType)
	}
	return ev, nil
}
