package sqlite

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/telemesh/telemesh/datanodes/store/chunk"
	"github.com/telemesh/telemesh/protocol"
)

// Spill files keep readings the store could not commit: when the write
// buffer reaches Options.MaxBuffered while flushes fail, and at Close when
// the last flush fails. Each is written whole to a temporary name, synced
// and renamed, so a spill file is complete or absent. The flusher writes
// them into the database, oldest first, each in its own transaction
// before the buffer, once writes succeed again (after a restart too), and
// removes each once committed.
//
// A file is spillMagic, then per field: the field name and one chunk
// (package chunk, checksummed) of its readings, each preceded by its
// length as a uvarint.

const spillMagic = "telemesh spill 1\n"

// spillFile is a spill file waiting to be written into the database.
type spillFile struct {
	path  string
	spans map[string]span
	n     int
}

// spillPrefix is the name every spill file of the database at dbPath
// starts with.
func spillPrefix(dbPath string) string { return filepath.Base(dbPath) + ".spill." }

// writeSpill writes the readings of b as a new spill file in dir.
func writeSpill(dir, dbPath string, b *buffer) (spillFile, error) {
	names, blocks, _ := group(b.series)
	var out bytes.Buffer
	out.WriteString(spillMagic)
	sf := spillFile{spans: map[string]span{}}
	for _, name := range names {
		blk := blocks[name]
		for _, p := range cut(blk, chunk.MaxReadings) {
			data, err := chunk.Encode(nil, p, chunk.Options{Fast: true})
			if err != nil {
				return spillFile{}, fmt.Errorf("field %s: %w", name, err)
			}
			out.Write(binary.AppendUvarint(nil, uint64(len(name))))
			out.WriteString(name)
			out.Write(binary.AppendUvarint(nil, uint64(len(data))))
			out.Write(data)
		}
		sp := sf.spans[name]
		sp.add(blk.Times)
		sf.spans[name] = sp
		sf.n += blk.Len()
	}
	name := fmt.Sprintf("%s%020d", spillPrefix(dbPath), time.Now().UnixNano())
	sf.path = filepath.Join(dir, name)
	tmp := sf.path + ".tmp"
	if err := writeSynced(tmp, out.Bytes()); err != nil {
		os.Remove(tmp)
		return spillFile{}, err
	}
	if err := os.Rename(tmp, sf.path); err != nil {
		os.Remove(tmp)
		return spillFile{}, err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return sf, nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readSpill reads a spill file back into a buffer.
func readSpill(path string) (*buffer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(data, []byte(spillMagic)) {
		return nil, errors.New("not a telemesh spill file")
	}
	r := bufio.NewReader(bytes.NewReader(data[len(spillMagic):]))
	b := &buffer{}
	for {
		name, err := readPart(r)
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		enc, err := readPart(r)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", name, err)
		}
		blk, err := chunk.Decode(enc)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", name, err)
		}
		vs, err := valuesOf(blk)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", name, err)
		}
		b.add(protocol.Series{Field: string(name), Times: blk.Times, Values: vs})
	}
}

// readPart reads one length-prefixed part; io.EOF only at a clean end.
func readPart(r *bufio.Reader) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > 1<<30 {
		return nil, fmt.Errorf("part of %d bytes", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return nil, fmt.Errorf("truncated part: %w", io.ErrUnexpectedEOF)
	}
	return p, nil
}

// findSpills returns the spill files of the database at dbPath in dir,
// oldest first, and removes temporary ones a crash left behind. A file it
// cannot read is left in place and reported in bad.
func findSpills(dir, dbPath string) (files []spillFile, bad []error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, []error{err}
	}
	prefix := spillPrefix(dbPath)
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || e.IsDir() {
			continue
		}
		path := filepath.Join(dir, name)
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(path)
			continue
		}
		b, err := readSpill(path)
		if err != nil {
			bad = append(bad, fmt.Errorf("spill file %s: %w", path, err))
			continue
		}
		files = append(files, spillFile{path: path, spans: b.fieldSpans(), n: b.n})
	}
	slices.SortFunc(files, func(a, b spillFile) int { return strings.Compare(a.path, b.path) })
	return files, bad
}
