package idset

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSetForgetsTheOldestFirst(t *testing.T) {
	s := New(3)
	for i := range 5 {
		s.Add(fmt.Sprint(i))
	}
	assert.Equal(t, 3, s.Len())
	for i, want := range []bool{false, false, true, true, true} {
		assert.Equal(t, want, s.Has(fmt.Sprint(i)), i)
	}
	s.Add("4") // already there: nothing forgotten
	assert.True(t, s.Has("2"))
}

func TestSetBoundsLongIDs(t *testing.T) {
	s := New(2)
	long := strings.Repeat("x", 1<<20)
	s.Add(long)
	assert.True(t, s.Has(long))
	assert.False(t, s.Has(long[:len(long)-1]))
	for id := range s.ids {
		assert.LessOrEqual(t, len(id), len("sha256:")+64, "a megabyte ID is kept as its hash")
	}
}

func TestSetOfCapacityZeroStillRemembersOne(t *testing.T) {
	s := New(0)
	s.Add("a")
	assert.True(t, s.Has("a"))
}
