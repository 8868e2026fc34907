package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// PutForecast stores doc (a forecast, as JSON) as the campaign's latest,
// made at made, replacing an older one; a forecast older than the one
// stored is dropped. An unknown campaign is an error wrapping
// errkind.NotFound.
func (s *Campaigns) PutForecast(ctx context.Context, campaign string, made time.Time, doc []byte) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO campaign_forecasts (campaign, made_at, forecast)
		SELECT name, ?, ? FROM campaigns WHERE name = ?
		ON CONFLICT (campaign) DO UPDATE SET made_at = excluded.made_at, forecast = excluded.forecast
		WHERE excluded.made_at >= campaign_forecasts.made_at`, nullMicros(made), string(doc), campaign)
	if err != nil {
		return fmt.Errorf("campaign %s: store its forecast: %w", campaign, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		if _, err := s.Campaign(ctx, campaign); err != nil {
			return err
		}
	}
	return nil
}

// LatestForecast returns the campaign's latest stored forecast (JSON) and
// when it was made; none is an error wrapping errkind.NotFound.
func (s *Campaigns) LatestForecast(ctx context.Context, campaign string) (time.Time, []byte, error) {
	var made sql.NullInt64
	var doc string
	err := s.rdb.QueryRowContext(ctx, `SELECT made_at, forecast FROM campaign_forecasts WHERE campaign = ?`, campaign).Scan(&made, &doc)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil, fmt.Errorf("campaign %s has no forecast: %w", campaign, errkind.NotFound)
	}
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("campaign %s: read its forecast: %w", campaign, err)
	}
	return fromMicros(made), []byte(doc), nil
}
