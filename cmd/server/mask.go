package server

import (
	"net/netip"
	"strings"
)

// MaskIP hides the host part of a client address for logs: IPv4 keeps its
// first two octets (192.168.xxx.xxx), IPv6 its first three groups
// (2001:db8:85a3:xxxx:xxxx:xxxx:xxxx:xxxx). A port is discarded. Anything
// unparseable becomes "invalid" so that it cannot leak an address either.
func MaskIP(addr string) string {
	ip, err := parseAddr(addr)
	if err != nil {
		return "invalid"
	}
	ip = ip.Unmap()
	if ip.Is4() {
		b := ip.As4()
		return itoa(b[0]) + "." + itoa(b[1]) + ".xxx.xxx"
	}
	full := ip.WithZone("").StringExpanded()
	groups := strings.Split(full, ":")
	for i := 3; i < len(groups); i++ {
		groups[i] = "xxxx"
	}
	for i := 0; i < 3; i++ {
		groups[i] = strings.TrimLeft(groups[i], "0")
		if groups[i] == "" {
			groups[i] = "0"
		}
	}
	return strings.Join(groups, ":")
}

// parseAddr accepts "ip", "ip:port" and "[ipv6]:port".
func parseAddr(addr string) (netip.Addr, error) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr(), nil
	}
	return netip.ParseAddr(strings.Trim(addr, "[]"))
}

func itoa(b byte) string {
	const digits = "0123456789"
	switch {
	case b >= 100:
		return string([]byte{digits[b/100], digits[b/10%10], digits[b%10]})
	case b >= 10:
		return string([]byte{digits[b/10], digits[b%10]})
	}
	return string(digits[b])
}
