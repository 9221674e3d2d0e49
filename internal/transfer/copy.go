package transfer

import "io"

// CopyBufferSize is the buffer Copy moves data with. System calls are
// costly on some machines (writing a file 32 KiB at a time ran at a quarter
// of the speed of 1 MiB writes here), so bulk data moves in large pieces.
const CopyBufferSize = 1 << 20

// Copy is io.CopyBuffer with buf, or a new CopyBufferSize buffer when buf
// is nil. It hides dst's ReadFrom and src's WriteTo, which would otherwise
// pick their own 32 KiB buffers.
func Copy(dst io.Writer, src io.Reader, buf []byte) (int64, error) {
	if buf == nil {
		buf = make([]byte, CopyBufferSize)
	}
	return io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, buf)
}
