"""The frontline: find one customer and show everything the company knows about them, to the
people who serve customers, as their role allows (`cif customer find|show`, `cif serve`).

Reads the published warehouse read-only, attached only while lookups run (frontline.reader),
so it never blocks a run, and always sees the newest published warehouse."""
