package classes

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"

	"github.com/dop251/goja"
)

// parseMultipart(buffer, offset, length, boundary) parses a
// multipart/form-data body for request.formData() (js/formdata.js):
// an array of [name, filename or null, content type, ArrayBuffer], one a
// part, in order. A body that is not multipart with that boundary is a
// TypeError, as fetch's spec makes it.
func (vm *vm) parseMultipart(fc goja.FunctionCall) goja.Value {
	body, boundary := vm.bytesArg(fc, 0), fc.Argument(3).String()
	if !bytes.Contains(body, []byte("--"+boundary)) { // the reader would see no parts
		vm.typeError("formData: the body is not multipart/form-data: no boundary %q in it", boundary)
	}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	var parts []any
	for {
		p, err := r.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			vm.typeError("formData: the body is not multipart/form-data: %v", err)
		}
		disp, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
		if err != nil || disp != "form-data" {
			vm.typeError("formData: a part has no form-data Content-Disposition")
		}
		data, err := io.ReadAll(p) // bounded by the body, which is whole
		if err != nil {
			vm.typeError("formData: the body is not multipart/form-data: %v", err)
		}
		var filename any // null unless the part is a file
		if f, ok := params["filename"]; ok {
			filename = f
		}
		parts = append(parts, vm.rt.NewArray(params["name"], filename, p.Header.Get("Content-Type"), vm.rt.NewArrayBuffer(data)))
	}
	return vm.rt.NewArray(parts...)
}
