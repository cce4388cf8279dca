package profileindex

import (
	"container/list"
	"unsafe"
)

// What the index holds, in bytes, as the Go heap lays it out. The figures
// are deliberately on the high side (slice growth, map slack), so that the
// accounted total bounds the real one.
const (
	stringHeaderBytes = int64(unsafe.Sizeof(""))
	sliceHeaderBytes  = int64(unsafe.Sizeof([]string(nil)))
	// sampleBytes: a Sample in its span's slice, which append may have
	// grown to twice its length.
	sampleBytes = 2 * int64(unsafe.Sizeof(Sample{}))
	// entryBytes: a span's entry, its list element, its map slot (with the
	// map's spare capacity) and its first chunk reference.
	entryBytes = int64(unsafe.Sizeof(entry{})) + int64(unsafe.Sizeof(list.Element{})) + 64 + chunkRefBytes
	// chunkRefBytes: one more message an entry holds samples of.
	chunkRefBytes = 2 * int64(unsafe.Sizeof((*chunk)(nil)))
	chunkBytes    = int64(unsafe.Sizeof(chunk{}))
)

// framesBytes is a stack's frame slice of capacity n, with its slot in the
// message's list of resolved stacks.
func framesBytes(n int) int64 { return int64(n)*stringHeaderBytes + sliceHeaderBytes }

// nameBytes is an interned function name.
func nameBytes(s string) int64 { return int64(len(s)) + stringHeaderBytes }
