// Every table of the console: a column is a header and what its cell shows.
import type { ReactNode } from "react";

export type Column<T> = {
  label: string;
  /** The header is for screen readers only (a column of buttons). */
  unlabelled?: boolean;
  title?: string;
  cell: (row: T) => ReactNode;
};

export function Table<T>({
  rows,
  columns,
  rowKey,
  caption,
  label,
  className,
}: {
  rows: T[];
  columns: Column<T>[];
  rowKey: (row: T, index: number) => string;
  caption?: string;
  label?: string;
  className?: string;
}) {
  return (
    <table aria-label={label} className={className}>
      {caption ? <caption>{caption}</caption> : null}
      <thead>
        <tr>
          {columns.map((c) => (
            <th scope="col" key={c.label} title={c.title}>
              {c.unlabelled ? <span className="visually-hidden">{c.label}</span> : c.label}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row, i) => (
          <tr key={rowKey(row, i)}>
            {columns.map((c) => (
              <td key={c.label}>{c.cell(row)}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
