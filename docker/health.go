package docker

import (
	"context"
	"io"
	"slices"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/tandem-dev/tandem"
)

var _ tandem.ImageHealthchecker = (*Runtime)(nil)

// ImageHealthcheck is the HEALTHCHECK of svc's image, pulled if the engine
// lacks it, as docker compose uses it where Compose gives none. A service
// built from its Dockerfile has none here: compose reads that Dockerfile's.
func (r *Runtime) ImageHealthcheck(ctx context.Context, svc *tandem.Service, out io.Writer) (*tandem.Healthcheck, error) {
	if svc.Image == "" || svc.DockerBuild != nil && svc.Context != "" {
		return nil, nil
	}
	if err := r.ensureImage(ctx, svc.Image, out); err != nil {
		return nil, tandem.Errorf(tandem.ErrorCode(err), "service %s: %w", svc.Name, err)
	}
	cli, err := r.client()
	if err != nil {
		return nil, err
	}
	img, err := cli.ImageInspect(ctx, svc.Image)
	if err != nil {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "service %s: image %s: %w", svc.Name, svc.Image, err)
	}
	if img.Config == nil {
		return nil, nil
	}
	return imageHealthcheck(img.Config.Healthcheck, img.Config.Shell), nil
}

// imageHealthcheck is an image's HEALTHCHECK as Compose's would be, with
// Docker's defaults where the image leaves a value at zero. A shell-form
// test runs in the image's SHELL, as the engine runs it.
func imageHealthcheck(h *container.HealthConfig, shell []string) *tandem.Healthcheck {
	if h == nil || len(h.Test) < 2 || h.Test[0] != "CMD" && h.Test[0] != "CMD-SHELL" {
		return nil // none, NONE, or a form the engine would not run either
	}
	test := slices.Clone(h.Test)
	if test[0] == "CMD-SHELL" && len(shell) > 0 {
		test = append(append([]string{"CMD"}, shell...), test[1:]...)
	}
	return &tandem.Healthcheck{
		Test:          test,
		Interval:      orDefault(h.Interval, tandem.DefaultHealthInterval),
		Timeout:       orDefault(h.Timeout, tandem.DefaultHealthTimeout),
		StartPeriod:   max(h.StartPeriod, 0),
		StartInterval: orDefault(h.StartInterval, tandem.DefaultHealthStartInterval),
		Retries:       orDefault(h.Retries, tandem.DefaultHealthRetries),
	}
}

// orDefault is v, or Docker's default where the image says 0 (inherit).
func orDefault[T time.Duration | int](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}
