package server_test

import (
	"os"
	osexec "os/exec"
	"strconv"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func exec(name string, args ...string) (string, error) {
	out, err := osexec.Command(name, args...).Output()
	return string(out), err
}

func removeAll(p string) error { return os.RemoveAll(p) }
