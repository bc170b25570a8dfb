// lp32_writer writes COUNT lp32 frames to PATH on one handle and prints
// "LEN SHA256" for each body. Bodies vary in size (some over 128 KiB, so the
// kernel splits them) and odd frames are written header and body apart, so
// the daemon has to join a frame from two write(2) calls.
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
)

func body(i int) []byte {
	n := 1 + (i*7919)%3000
	if i%10 == 9 {
		n = 150000 + i
	}
	b := []byte(fmt.Sprintf("go-%d|", i))
	for len(b) < n {
		b = append(b, byte((i*131+len(b))%256))
	}
	return b[:n]
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: lp32_writer PATH COUNT")
		os.Exit(2)
	}
	count, err := strconv.Atoi(os.Args[2])
	if err != nil {
		panic(err)
	}
	f, err := os.OpenFile(os.Args[1], os.O_WRONLY, 0)
	if err != nil {
		panic(err)
	}
	for i := 0; i < count; i++ {
		b := body(i)
		head := make([]byte, 4)
		binary.LittleEndian.PutUint32(head, uint32(len(b)))
		if i%2 == 1 {
			if _, err := f.Write(head); err != nil {
				panic(err)
			}
			if _, err := f.Write(b); err != nil {
				panic(err)
			}
		} else if _, err := f.Write(append(head, b...)); err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		fmt.Println(len(b), hex.EncodeToString(sum[:]))
	}
	if err := f.Close(); err != nil {
		panic(err)
	}
}
