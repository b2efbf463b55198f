package inventory

import (
	"strings"
)

func (k *check) checkWeb() {
	c := k.c
	webPortOK := k.intField("web.port", &c.Web.Port, DefaultWebPort, 1, 65535, "a TCP port")
	hpPortOK := k.intField("haproxy.port", &c.HAProxy.Port, DefaultHAProxyPort, 1, 65535, "a TCP port")
	if webPortOK && hpPortOK && c.Web.Port == c.HAProxy.Port {
		for _, h := range c.Hosts {
			if h.HasRole(RoleWeb) && h.HasRole(RoleLB) {
				k.errf("web.port", "web.port and haproxy.port are both %d but %s is both web and lb: Apache and HAProxy cannot listen on the same port", c.Web.Port, h.Name)
				break
			}
		}
	}
	if k.strField("web.health_check", &c.Web.HealthCheck, DefaultHealthCheck) || k.has("web.health_check") {
		if msg := healthCheckProblem(c.Web.HealthCheck); msg != "" {
			k.errf("web.health_check", "%s", msg)
		}
	}
}

func healthCheckProblem(s string) string {
	method, path, ok := strings.Cut(s, " ")
	if !ok || strings.Contains(path, " ") {
		return `must be "METHOD /path" with one space, e.g. "GET /index.html", got ` + quote(s)
	}
	switch method {
	case "GET", "HEAD", "OPTIONS":
	default:
		return "method must be GET, HEAD or OPTIONS (upper case), got " + quote(method)
	}
	if !healthPathRE.MatchString(path) {
		return "path must start with / and use only letters, digits and ._~/- (pattern " + healthPathRE.String() + "), got " + quote(path)
	}
	return ""
}
