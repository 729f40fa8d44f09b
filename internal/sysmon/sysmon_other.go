//go:build !linux

package sysmon

// Reexec does nothing off Linux.
func Reexec() {}
