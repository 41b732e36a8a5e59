package sqlite

/*
// SQLite's own allocator counters, from the library go-sqlite3 links in.
extern long long sqlite3_memory_used(void);
*/
import "C"

// MemoryUsed returns the bytes SQLite has allocated in this process (its
// page caches, statements and connections): of all stores together, as
// SQLite counts one heap for the process.
func (s *Store) MemoryUsed() int64 { return int64(C.sqlite3_memory_used()) }
