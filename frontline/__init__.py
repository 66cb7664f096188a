"""The frontline: find one customer and show everything the company knows about them, to the
people who serve customers, as their role allows (`cif customer find|show`, `cif serve`).

Reads the published warehouse read-only, one short connection per lookup, so it never holds
the file while a run publishes, and always sees the newest published warehouse."""
