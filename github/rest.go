// Package github is tandem's client of GitHub (and GitHub Enterprise
// Server): webhooks verified by X-Hub-Signature-256, commit statuses,
// deployments and the preview comment through go-github, authenticated as
// a GitHub App (a JWT exchanged for installation tokens, refreshed before
// they expire) or with a token. Gitea's API answers the same paths for
// statuses, comments and pull requests, so package gitea uses REST too.
package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	gh "github.com/google/go-github/v92/github"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/forge"
)

// REST is the part of the forge API that GitHub and Gitea share: statuses,
// comments, collaborators' permissions and pull requests' files.
type REST struct {
	API *gh.Client
}

// split cuts "owner/repo".
func split(project string) (owner, repo string, err error) {
	owner, repo, ok := strings.Cut(project, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return "", "", tandem.Errorf(tandem.EINVALID, "project %q is not owner/repo", project)
	}
	return owner, repo, nil
}

// SetStatus sets the commit status of context s.Context on sha.
func (r *REST) SetStatus(ctx context.Context, project, sha string, s forge.Status) error {
	owner, repo, err := split(project)
	if err != nil {
		return err
	}
	st := gh.RepoStatus{State: gh.Ptr(s.State), Description: gh.Ptr(s.Description), Context: gh.Ptr(s.Context)}
	if s.URL != "" {
		st.TargetURL = gh.Ptr(s.URL)
	}
	_, _, err = r.API.Repositories.CreateStatus(ctx, owner, repo, sha, st)
	return apiError(err)
}

// FindComment returns the ID of the first comment on the pull request whose
// body holds marker, 0 if none does.
func (r *REST) FindComment(ctx context.Context, project string, number int, marker string) (int64, error) {
	owner, repo, err := split(project)
	if err != nil {
		return 0, err
	}
	opts := &gh.IssueListCommentsOptions{ListOptions: gh.ListOptions{PerPage: 50}}
	for page := 1; page <= 40; page++ {
		opts.Page = page
		comments, resp, err := r.API.Issues.ListComments(ctx, owner, repo, number, opts)
		if err != nil {
			return 0, apiError(err)
		}
		for _, c := range comments {
			if strings.Contains(c.GetBody(), marker) {
				return c.GetID(), nil
			}
		}
		if resp == nil || resp.NextPage == 0 || len(comments) == 0 {
			break
		}
	}
	return 0, nil
}

// CreateComment comments on the pull request.
func (r *REST) CreateComment(ctx context.Context, project string, number int, body string) (int64, error) {
	owner, repo, err := split(project)
	if err != nil {
		return 0, err
	}
	c, _, err := r.API.Issues.CreateComment(ctx, owner, repo, number, gh.IssueCommentRequest{Body: body})
	if err != nil {
		return 0, apiError(err)
	}
	return c.GetID(), nil
}

// EditComment replaces a comment's body.
func (r *REST) EditComment(ctx context.Context, project string, _ int, id int64, body string) error {
	owner, repo, err := split(project)
	if err != nil {
		return err
	}
	_, _, err = r.API.Issues.UpdateComment(ctx, owner, repo, id, gh.IssueCommentRequest{Body: body})
	return apiError(err)
}

// CanWrite reports whether user may push to project.
func (r *REST) CanWrite(ctx context.Context, project, user string) (bool, error) {
	owner, repo, err := split(project)
	if err != nil {
		return false, err
	}
	p, _, err := r.API.Repositories.GetPermissionLevel(ctx, owner, repo, user)
	if err != nil {
		if tandem.ErrorCode(apiError(err)) == tandem.ENOTFOUND {
			return false, nil // not a collaborator
		}
		return false, apiError(err)
	}
	switch p.GetPermission() {
	case "admin", "maintain", "write", "owner": // "owner" is Gitea's
		return true, nil
	}
	return false, nil
}

// ChangedFiles lists the paths the pull request changes.
func (r *REST) ChangedFiles(ctx context.Context, project string, number int) ([]string, error) {
	owner, repo, err := split(project)
	if err != nil {
		return nil, err
	}
	var out []string
	opts := &gh.ListOptions{PerPage: 100}
	for page := 1; page <= 30; page++ { // GitHub lists 3,000 files at most
		opts.Page = page
		files, resp, err := r.API.PullRequests.ListFiles(ctx, owner, repo, number, opts)
		if err != nil {
			return nil, apiError(err)
		}
		for _, f := range files {
			out = append(out, f.GetFilename())
			if f.GetPreviousFilename() != "" {
				out = append(out, f.GetPreviousFilename())
			}
		}
		if resp == nil || resp.NextPage == 0 || len(files) == 0 {
			break
		}
	}
	return out, nil
}

// apiError gives an API error tandem's code: a 404 is ENOTFOUND, a refusal
// EFORBIDDEN, the rest EUNAVAILABLE (tried again later).
func apiError(err error) error {
	if err == nil {
		return nil
	}
	var e *gh.ErrorResponse
	if errors.As(err, &e) && e.Response != nil {
		code := tandem.EUNAVAILABLE
		switch e.Response.StatusCode {
		case http.StatusNotFound, http.StatusGone:
			code = tandem.ENOTFOUND
		case http.StatusUnprocessableEntity:
			code = tandem.EINVALID
		case http.StatusForbidden: // rate limits come as RateLimitError, not here
			code = tandem.EFORBIDDEN
		}
		return &tandem.Error{Code: code, Message: fmt.Sprintf("%s %s: %d %s", e.Response.Request.Method, e.Response.Request.URL.Path, e.Response.StatusCode, e.Message)}
	}
	return &tandem.Error{Code: tandem.EUNAVAILABLE, Message: "forge API", Err: err}
}
