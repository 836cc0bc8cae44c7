package daemon

import (
	"io/fs"
	"syscall"
)

// inode is fi's inode number, where the platform says (a keytab replaced
// by rename keeps its size and may keep its mtime).
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
