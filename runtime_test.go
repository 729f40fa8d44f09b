package tandem

import (
	"context"
	"errors"
	"io"
	"reflect"
	"testing"
)

// imageRuntime knows the HEALTHCHECK of the images in health, and counts
// what it is asked.
type imageRuntime struct {
	Runtime
	health map[string]*Healthcheck
	asked  []string
	err    error
}

func (r *imageRuntime) ImageHealthcheck(_ context.Context, svc *Service, _ io.Writer) (*Healthcheck, error) {
	r.asked = append(r.asked, svc.Name)
	return r.health[svc.Image], r.err
}

// Only where Compose is silent does the image's healthcheck count: not
// over Compose's, not where Compose turns it off.
func TestUseImageHealthchecks(t *testing.T) {
	image := &Healthcheck{Test: []string{"CMD-SHELL", "redis-cli ping"}, Interval: 1}
	own := &Healthcheck{Test: []string{"CMD", "true"}}
	silent := &Service{Name: "cache", Image: "redis:7"}
	composes := &Service{Name: "db", Image: "redis:7", Healthcheck: own}
	off := &Service{Name: "off", Image: "redis:7", HealthcheckOff: true}
	none := &Service{Name: "web", Image: "nginx"}
	rt := &imageRuntime{health: map[string]*Healthcheck{"redis:7": image}}
	if err := UseImageHealthchecks(context.Background(), rt, []*Service{silent, composes, off, none}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if silent.Healthcheck != image || composes.Healthcheck != own || off.Healthcheck != nil || none.Healthcheck != nil {
		t.Errorf("healthchecks: silent %v, compose's %v, off %v, none %v", silent.Healthcheck, composes.Healthcheck, off.Healthcheck, none.Healthcheck)
	}
	if want := []string{"cache", "web"}; !reflect.DeepEqual(rt.asked, want) {
		t.Errorf("asked about %v, want %v", rt.asked, want)
	}

	rt.err = Errorf(ENOTFOUND, "service x: image y cannot be pulled")
	if err := UseImageHealthchecks(context.Background(), rt, []*Service{{Name: "x", Image: "y"}}, io.Discard); !errors.Is(err, rt.err) {
		t.Errorf("error %v, want the runtime's", err)
	}
	// A runtime that runs no images is not asked.
	var plain struct{ Runtime }
	if err := UseImageHealthchecks(context.Background(), plain, []*Service{{Name: "x", Image: "y"}}, io.Discard); err != nil {
		t.Error(err)
	}
}

func TestHealthcheckArgv(t *testing.T) {
	for _, c := range []struct {
		test []string
		want []string
	}{
		{[]string{"CMD", "pg_isready", "-U", "app"}, []string{"pg_isready", "-U", "app"}},
		{[]string{"CMD-SHELL", "curl -f http://localhost/ ||", "exit 1"}, []string{"/bin/sh", "-c", "curl -f http://localhost/ || exit 1"}},
		{[]string{"./bin/healthcheck"}, []string{"./bin/healthcheck"}},
		{[]string{"NONE"}, nil},
		{nil, nil},
	} {
		if got := (&Healthcheck{Test: c.test}).Argv(); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: %q, want %q", c.test, got, c.want)
		}
	}
	if got := (*Healthcheck)(nil).Argv(); got != nil {
		t.Errorf("no healthcheck: %q", got)
	}
}
