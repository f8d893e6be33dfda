// Package berlimit checks the shape of BER bytes from their headers alone,
// before a decoder builds a tree of them: asn1-ber allocates a Packet of a
// few hundred bytes per element and its cost grows with the square of the
// nesting, so a small message of many tiny or deeply nested elements could
// otherwise cost far more memory and time than its size suggests.
package berlimit

import "fmt"

// Check walks v's TLV headers (single-byte tags, definite lengths only, as
// LDAP requires) and fails when an element nests deeper than maxDepth, when
// there are more than maxElements elements, or when the lengths do not add
// up. ends holds where each open constructed element stops.
func Check(v []byte, maxDepth, maxElements int) error {
	var ends []int
	elements := 0
	for i := 0; i < len(v); {
		for len(ends) > 0 && i == ends[len(ends)-1] {
			ends = ends[:len(ends)-1]
		}
		if i+2 > len(v) {
			return fmt.Errorf("truncated element at byte %d", i)
		}
		if v[i]&0x1f == 0x1f {
			return fmt.Errorf("multi-byte tag at byte %d", i)
		}
		if elements++; elements > maxElements {
			return fmt.Errorf("more than %d elements", maxElements)
		}
		constructed := v[i]&0x20 != 0
		n, hdr := int(v[i+1]), 2
		if n&0x80 != 0 {
			width := n & 0x7f
			if width == 0 {
				return fmt.Errorf("indefinite length at byte %d", i)
			}
			if width > 4 || i+2+width > len(v) {
				return fmt.Errorf("bad length at byte %d", i)
			}
			n = 0
			for _, b := range v[i+2 : i+2+width] {
				n = n<<8 | int(b)
			}
			hdr += width
		}
		end := i + hdr + n
		if n < 0 || end > len(v) || (len(ends) > 0 && end > ends[len(ends)-1]) {
			return fmt.Errorf("length at byte %d runs past its container", i)
		}
		if !constructed {
			i = end
			continue
		}
		if len(ends) == maxDepth {
			return fmt.Errorf("nested deeper than %d", maxDepth)
		}
		ends = append(ends, end)
		i += hdr
	}
	return nil
}
