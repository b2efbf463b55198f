//go:build !unix

package inventory

import "os"

const openFlags = os.O_RDONLY
