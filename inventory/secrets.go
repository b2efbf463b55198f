package inventory

import "reflect"

// Secrets lists the values of every field tagged `secret:"true"` in the
// model: the one place secrets are declared. Whatever shows or logs
// anything (plans, diffs, events, debug logs) masks these values.
func (c *Cluster) Secrets() []string {
	var out []string
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Slice, reflect.Array:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		case reflect.Struct:
			t := v.Type()
			for i := 0; i < t.NumField(); i++ {
				f := t.Field(i)
				if !f.IsExported() {
					continue
				}
				if f.Tag.Get("secret") == "true" && f.Type.Kind() == reflect.String {
					if s := v.Field(i).String(); s != "" {
						out = append(out, s)
					}
					continue
				}
				walk(v.Field(i))
			}
		}
	}
	if c != nil {
		walk(reflect.ValueOf(c).Elem())
	}
	return out
}
