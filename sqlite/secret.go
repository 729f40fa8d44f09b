package sqlite

import (
	"context"
	"database/sql"

	"github.com/tandem-dev/tandem"
)

// Secrets returns the generated secrets of a preview, by name: an empty map
// if it has none, ENOTFOUND if there is no such preview. Nothing here logs
// or wraps a value into an error.
func (db *DB) Secrets(ctx context.Context, name string) (map[string]string, error) {
	secrets := map[string]string{}
	err := db.view(ctx, func(tx *sql.Tx) error {
		if err := previewExists(ctx, tx, name); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, "SELECT name, value FROM secrets WHERE preview = ?", name)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				return err
			}
			secrets[k] = v
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap(err, "secrets of %q", name)
	}
	return secrets, nil
}

// PutSecrets replaces a preview's secrets with secrets, in one transaction.
// The preview must exist: ENOTFOUND otherwise.
func (db *DB) PutSecrets(ctx context.Context, name string, secrets map[string]string) error {
	for k := range secrets {
		if k == "" {
			return tandem.Errorf(tandem.EINVALID, "sqlite: secrets of %q: a secret with no name", name)
		}
	}
	err := db.update(ctx, func(tx *sql.Tx) error {
		if err := previewExists(ctx, tx, name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM secrets WHERE preview = ?", name); err != nil {
			return err
		}
		for k, v := range secrets {
			if _, err := tx.ExecContext(ctx, "INSERT INTO secrets (preview, name, value) VALUES (?, ?, ?)", name, k, v); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap(err, "put secrets of %q", name)
}

func previewExists(ctx context.Context, tx *sql.Tx, name string) error {
	var ok bool
	if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM previews WHERE name = ?)", name).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return notFound(name)
	}
	return nil
}
