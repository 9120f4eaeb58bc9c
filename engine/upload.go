package engine

import (
	"context"
	"fmt"
	"time"
)

// Upload is a file kept in the store for the messages that name it
// (channels.Media.Upload): an image an operator uploaded in the console
// to reply with. It is in the store, not on a node's disk, so that the
// node that sends the message, and every node's console, can read it.
type Upload struct {
	// Key is the SHA-256 of Data in hex, a dot and the file's extension
	// (png, jpg, ...): the same content is kept once.
	Key  string
	Data []byte
	// Created is when it was last uploaded.
	Created time.Time
}

// UploadStore is a store transaction that keeps uploads: both stores'
// transactions implement it (a ReadTx for Upload, a Tx for the writes).
type UploadStore interface {
	// Upload returns the upload with the given key, or ErrNotFound.
	Upload(key string) (*Upload, error)
	// SaveUpload stores an upload; one with the same key is kept, with
	// the new Created.
	SaveUpload(u *Upload) error
	// PruneUploads deletes up to limit uploads created before before
	// that no message pending or being sent names, and returns how many
	// it deleted.
	PruneUploads(before time.Time, limit int) (int, error)
}

// uploadsOf is the UploadStore of a store's transaction.
func uploadsOf(tx ReadTx) (UploadStore, error) {
	us, ok := storeTx[UploadStore](tx)
	if !ok {
		return nil, fmt.Errorf("the store (%T) keeps no uploads", tx)
	}
	return us, nil
}

// ReadUpload reads an upload from a store: ErrNotFound when it is not
// there (never stored, or pruned).
func ReadUpload(ctx context.Context, s Store, key string) (*Upload, error) {
	var u *Upload
	err := s.View(ctx, func(tx ReadTx) error {
		us, err := uploadsOf(tx)
		if err != nil {
			return err
		}
		u, err = us.Upload(key)
		return err
	})
	return u, err
}

// SaveUpload stores an upload in its own transaction.
func SaveUpload(ctx context.Context, s Store, u *Upload) error {
	return s.Update(ctx, func(tx Tx) error {
		us, err := uploadsOf(tx)
		if err != nil {
			return err
		}
		return us.SaveUpload(u)
	})
}
