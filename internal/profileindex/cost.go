package profileindex

import (
	"container/list"
	"unsafe"
)

// What the index holds, in bytes, as the Go heap lays it out: objects are
// rounded up to a size class, and pointerful ones over 512 bytes carry an
// 8-byte header. The figures err on the high side (slice growth, map slack),
// so that the accounted total bounds the real one.
const (
	stringHeaderBytes = int64(unsafe.Sizeof(""))
	sliceHeaderBytes  = int64(unsafe.Sizeof([]string(nil)))
	mallocHeaderBytes = 8
	// sampleBytes: a Sample in its span's slice, which append may have
	// grown to twice its length.
	sampleBytes = 2 * int64(unsafe.Sizeof(Sample{}))
	// entryBytes: a span's entry, its list element, its map slot (with the
	// map's spare capacity) and its first chunk reference.
	entryBytes = (int64(unsafe.Sizeof(entry{}))+15)&^15 + (int64(unsafe.Sizeof(list.Element{}))+15)&^15 + 64 + chunkRefBytes
	// chunkRefBytes: one more message an entry holds samples of.
	chunkRefBytes = 2 * int64(unsafe.Sizeof((*chunk)(nil)))
	chunkBytes    = (int64(unsafe.Sizeof(chunk{})) + 15) &^ 15
)

// framesBytes is a stack's frame slice, or its frames and lines in one, of
// capacity n (already rounded to its size class by append), with its slot
// in the message's list of resolved stacks.
func framesBytes(n int) int64 {
	return int64(n)*stringHeaderBytes + mallocHeaderBytes + sliceHeaderBytes
}

// nameBytes is an interned function name.
func nameBytes(s string) int64 { return sizeClass(int64(len(s))) }

// timesBytes is a sample's n tick timestamps.
func timesBytes(n int) int64 {
	if n == 0 {
		return 0
	}
	return sizeClass(int64(n) * 8)
}

// moduleBytes is an entry's main module path.
func moduleBytes(s string) int64 { return sizeClass(int64(len(s))) }

// sizeClass bounds the size class an allocation of n bytes lands in: size
// classes are 16 bytes apart up to 256, and at most a quarter apart above.
func sizeClass(n int64) int64 {
	if n <= 256 {
		return (n + 15) &^ 15
	}
	return n + n/4
}
