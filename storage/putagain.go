package storage

import (
	"bytes"
	"context"
	"errors"
)

// putAgainTries bounds the writes of PutAgain: the first and two more.
const putAgainTries = 3

// PutAgain puts data at key (opts.Size is set to its length). When the
// server accepts it but stores it wrong (ErrStoredWrong), what it stored
// is removed (RemoveStoredWrong) and data written again, up to three times
// in all; the error then wraps ErrRemovedWrong, retryable: nothing wrong
// is left at key. It is for keys object lock does not keep (a staging
// location): a locked wrong object is returned as ErrStoredWrong, as Put
// returns it.
func PutAgain(ctx context.Context, st Store, key string, data []byte, opts PutOptions) (ObjectInfo, error) {
	opts.Size = int64(len(data))
	var err error
	for range putAgainTries {
		var info ObjectInfo
		info, err = st.Put(ctx, key, bytes.NewReader(data), opts)
		if !errors.Is(err, ErrStoredWrong) {
			return info, err
		}
		if err = RemoveStoredWrong(ctx, st, key, err); !errors.Is(err, ErrRemovedWrong) {
			return ObjectInfo{}, err
		}
	}
	return ObjectInfo{}, err
}
