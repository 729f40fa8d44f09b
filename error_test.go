package tandem

import (
	"errors"
	"io/fs"
	"testing"
)

func TestErrorfShowsTheCauseOnce(t *testing.T) {
	err := Errorf(ENOTFOUND, "open stack: %w", fs.ErrNotExist)
	if got := err.Error(); got != "open stack: file does not exist" {
		t.Errorf("Error() = %q", got)
	}
	if !errors.Is(err, fs.ErrNotExist) || ErrorCode(err) != ENOTFOUND {
		t.Error("the cause or the code is lost")
	}
	joined := &Error{Code: EINVALID, Message: "build web", Err: errors.New("exit status 1")}
	if got := joined.Error(); got != "build web: exit status 1" {
		t.Errorf("Message and Err: %q", got)
	}
	if ErrorCode(nil) != "" || ErrorCode(errors.New("x")) != EINTERNAL || HTTPStatus(EUNAVAILABLE) != 503 {
		t.Error("codes")
	}
}
