import type { AdminAnalytics } from '@/lib/analytics/schemas';
import styles from './admin.module.css';
import { dollars, monthName } from '@/app/_lib/format';

type RevenueMonth = AdminAnalytics['revenue']['byMonth'][number];

const ROW = 26;
const LABEL = 84;
const VALUE = 96;
const WIDTH = 640;
const BAR_SPACE = WIDTH - LABEL - VALUE;

// Revenue by month as horizontal bars, each with its month and amount written beside it. The
// table that follows the chart on the page carries the same figures as text (its alternative).
// A month with more refunds than revenue (negative) has no bar, only its amount.
export function RevenueChart({ months }: { months: RevenueMonth[] }) {
  const largest = Math.max(1, ...months.map((row) => row.revenueCents));
  const first = months[0];
  const last = months.at(-1);
  const title = first && last ? `Revenue by month, ${monthName(first.month)} to ${monthName(last.month)}` : 'Revenue by month';
  return (
    <figure className={styles.chart}>
      <svg
        viewBox={`0 0 ${WIDTH} ${months.length * ROW}`}
        role="img"
        aria-labelledby="revenue-chart-title revenue-chart-note"
        className={styles.chartSvg}
      >
        <title id="revenue-chart-title">{title}</title>
        {months.map((row, index) => {
          const y = index * ROW;
          const width = row.revenueCents > 0 ? Math.max(2, (row.revenueCents / largest) * BAR_SPACE) : 0;
          return (
            <g key={row.month}>
              <text x={0} y={y + ROW / 2} dominantBaseline="middle" className={styles.chartLabel}>
                {monthName(row.month)}
              </text>
              <rect x={LABEL} y={y + 4} width={width} height={ROW - 8} rx={3} className={styles.chartBar} />
              <text x={LABEL + width + 6} y={y + ROW / 2} dominantBaseline="middle" className={styles.chartValue}>
                {dollars(row.revenueCents)}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption id="revenue-chart-note" className={styles.muted}>
        The same figures, with top-ups, refunds and invoices, are in the table below.
      </figcaption>
    </figure>
  );
}
