package storage_test

import (
	"context"
	"fmt"
	"os"

	"github.com/safekeep-dev/safekeep/storage"
)

// Open a store from the standard AWS credentials, with retries, and stream
// an object of unknown size into it.
func ExampleNew() {
	ctx := context.Background()
	creds, err := storage.CredentialsFromEnv(ctx, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	s3, err := storage.New(storage.Config{
		Endpoint:    "https://s3.us-east-1.amazonaws.com",
		Bucket:      "offsite",
		Prefix:      "cluster-a",
		Credentials: creds,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	store := storage.WithRetry(s3, storage.DefaultRetryPolicy())
	_, err = store.Put(ctx, "safekeep/v1/example.age", os.Stdin, storage.PutOptions{Size: -1})
	fmt.Println(err)
}
