// mkfifo_writer makes PATH with mkfifo(2) if it is missing (on chanfs that
// creates a daemon-served pipe channel), then writes COUNT sessions: for each
// one it opens PATH, writes "TAG-i\n" and closes, like a shell loop of
// `echo ... > fifo`.
package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: mkfifo_writer PATH TAG COUNT")
		os.Exit(2)
	}
	path, tag := os.Args[1], os.Args[2]
	count, err := strconv.Atoi(os.Args[3])
	if err != nil {
		panic(err)
	}
	if _, err := os.Stat(path); os.IsNotExist(err) {
		if err := syscall.Mkfifo(path, 0644); err != nil {
			panic(err)
		}
	}
	for i := 0; i < count; i++ {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			panic(err)
		}
		if _, err := fmt.Fprintf(f, "%s-%d\n", tag, i); err != nil {
			panic(err)
		}
		if err := f.Close(); err != nil {
			panic(err)
		}
	}
}
