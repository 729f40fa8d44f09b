package dashboard

import (
	"context"
	"net/http"

	"github.com/tandem-dev/tandem"
)

// reviewRoutes are the review's pages and forms.
func (s *Server) reviewRoutes(mux *http.ServeMux) {}

// reviewState is where a preview's review stands, for the list: "" where
// the server runs no reviews.
func (s *Server) reviewState(ctx context.Context, p *tandem.Preview) string { return "" }
