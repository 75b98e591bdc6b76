import styles from '../dashboard.module.css';

export interface Bar {
  label: string;
  value: number;
  /** How the value reads, e.g. "$12.30". */
  text: string;
}

// A small horizontal bar chart in SVG. Screen readers get the same figures as a table (the
// chart itself is decorative), so nothing is conveyed by the drawing alone.
export function BarChart({ title, bars, emptyText }: { title: string; bars: Bar[]; emptyText: string }) {
  if (bars.length === 0 || bars.every((bar) => bar.value === 0)) return <p className={styles.muted}>{emptyText}</p>;
  const max = Math.max(...bars.map((bar) => bar.value), 1);
  const rowHeight = 28;
  const labelWidth = 110;
  const width = 480;
  return (
    <figure style={{ margin: 0 }}>
      <svg className={styles.chart} viewBox={`0 0 ${width} ${bars.length * rowHeight}`} aria-hidden="true" focusable="false">
        {bars.map((bar, index) => {
          const barWidth = Math.max(2, ((width - labelWidth - 150) * bar.value) / max);
          const y = index * rowHeight;
          return (
            <g key={bar.label}>
              <text x={0} y={y + 18} fontSize="13" fill="#1a1a2e">
                {bar.label}
              </text>
              <rect x={labelWidth} y={y + 6} width={barWidth} height={16} rx={3} fill="#3d3dbf" />
              <text x={labelWidth + barWidth + 6} y={y + 18} fontSize="13" fill="#1a1a2e">
                {bar.text}
              </text>
            </g>
          );
        })}
      </svg>
      {/* A table ignores overflow, so it is hidden inside a div: on its own it widened the page on phones. */}
      <div className="sr-only">
        <table className={styles.table}>
          <caption>{title}</caption>
          <tbody>
            {bars.map((bar) => (
              <tr key={bar.label}>
                <th scope="row">{bar.label}</th>
                <td>{bar.text}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </figure>
  );
}
