package berlimit

import (
	"bytes"
	"testing"
)

func nested(depth int) []byte {
	v := []byte{0x04, 0x00}
	for i := 0; i < depth; i++ {
		v = append([]byte{0x30, byte(len(v))}, v...)
		if len(v) > 120 {
			break
		}
	}
	return v
}

func TestCheck(t *testing.T) {
	many := bytes.Repeat([]byte{0x04, 0x00}, 100)
	seqOfMany := append([]byte{0x30, 0x81, byte(len(many))}, many...)
	cases := []struct {
		name        string
		v           []byte
		depth, elts int
		ok          bool
	}{
		{"flat", []byte{0x30, 0x03, 0x02, 0x01, 0x01}, 4, 10, true},
		{"depth at the limit", nested(3), 3, 10, true},
		{"too deep", nested(4), 3, 10, false},
		{"too many elements", seqOfMany, 4, 50, false},
		{"enough elements", seqOfMany, 4, 101, true},
		{"indefinite length", []byte{0x30, 0x80, 0x00, 0x00}, 4, 10, false},
		{"child past parent", []byte{0x30, 0x02, 0x04, 0x05, 0x00, 0x00, 0x00}, 4, 10, false},
		{"truncated", []byte{0x30}, 4, 10, false},
		{"length past the end", []byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff}, 4, 10, false},
	}
	for _, c := range cases {
		err := Check(c.v, c.depth, c.elts)
		if (err == nil) != c.ok {
			t.Errorf("%s: Check = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

func FuzzCheck(f *testing.F) {
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Add(nested(10))
	f.Fuzz(func(t *testing.T, v []byte) {
		Check(v, 8, 1000)
	})
}
