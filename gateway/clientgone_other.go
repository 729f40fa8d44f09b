//go:build !linux

package gateway

// fdClosed cannot tell without Linux's peek and poll: the client's leaving
// is then noticed when writing to it.
func fdClosed(int) bool { return false }

// fdQuiet cannot tell without Linux's peek: the retry rules stand alone.
func fdQuiet(int) bool { return true }
