package lab

import (
	"encoding/binary"
	"strconv"
	"strings"
	"testing"
)

// runCBPF interprets the classic BPF ops the filter uses (ld/ldh/ldb
// absolute, jeq k, ret k) over an Ethernet frame, as the kernel would.
func runCBPF(t *testing.T, prog string, pkt []byte) uint32 {
	t.Helper()
	parts := strings.Split(prog, ",")
	n, _ := strconv.Atoi(parts[0])
	if n != len(parts)-1 {
		t.Fatalf("program says %d ops, has %d", n, len(parts)-1)
	}
	type op struct {
		code   uint16
		jt, jf uint8
		k      uint32
	}
	var ops []op
	for _, p := range parts[1:] {
		f := strings.Fields(p)
		if len(f) != 4 {
			t.Fatalf("op %q", p)
		}
		c, _ := strconv.ParseUint(f[0], 10, 16)
		jt, _ := strconv.ParseUint(f[1], 10, 8)
		jf, _ := strconv.ParseUint(f[2], 10, 8)
		k, _ := strconv.ParseUint(f[3], 10, 32)
		ops = append(ops, op{uint16(c), uint8(jt), uint8(jf), uint32(k)})
	}
	var a uint32
	for pc := 0; pc < len(ops); pc++ {
		o := ops[pc]
		switch o.code {
		case 0x20, 0x28, 0x30: // ld, ldh, ldb [k]
			size := map[uint16]int{0x20: 4, 0x28: 2, 0x30: 1}[o.code]
			if int(o.k)+size > len(pkt) {
				return 0
			}
			b := pkt[o.k : int(o.k)+size]
			switch size {
			case 4:
				a = binary.BigEndian.Uint32(b)
			case 2:
				a = uint32(binary.BigEndian.Uint16(b))
			default:
				a = uint32(b[0])
			}
		case 0x15: // jeq #k
			if a == o.k {
				pc += int(o.jt)
			} else {
				pc += int(o.jf)
			}
		case 0x06: // ret #k
			return o.k
		default:
			t.Fatalf("op code %#x not interpreted", o.code)
		}
	}
	t.Fatal("program fell off its end")
	return 0
}

// frame is an Ethernet frame carrying an IPv4 header with proto and dst.
func frame(ethertype uint16, proto byte, dst [4]byte) []byte {
	p := make([]byte, 14+20+8)
	binary.BigEndian.PutUint16(p[12:], ethertype)
	p[14] = 0x45
	p[14+9] = proto
	copy(p[14+16:], dst[:])
	return p
}

// The filter drops exactly multicast VRRP: unicast VRRP (vrrp.unicast),
// other traffic to the group, other multicast and ARP pass.
func TestVRRPMulticastDrop(t *testing.T) {
	const drop, pass = 2, 4294967295
	for _, tc := range []struct {
		name string
		pkt  []byte
		want uint32
	}{
		{"multicast VRRP", frame(0x0800, 112, [4]byte{224, 0, 0, 18}), drop},
		{"unicast VRRP to the peer", frame(0x0800, 112, [4]byte{10, 213, 47, 22}), pass},
		{"IGMP to the VRRP group", frame(0x0800, 2, [4]byte{224, 0, 0, 18}), pass},
		{"VRRP to all hosts", frame(0x0800, 112, [4]byte{224, 0, 0, 1}), pass},
		{"HTTP", frame(0x0800, 6, [4]byte{10, 213, 47, 100}), pass},
		{"ARP", frame(0x0806, 112, [4]byte{224, 0, 0, 18}), pass},
	} {
		if got := runCBPF(t, vrrpMulticastDrop, tc.pkt); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}
