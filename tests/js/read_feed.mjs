// Read iCalendar files with Mozilla's ical.js (Thunderbird's parser) and print what a client
// would show, as JSON: for each file, the calendar's properties and every event with its
// instants in UTC. Usage: node read_feed.mjs FILE...
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const out = {};
for (const path of process.argv.slice(2)) {
  const root = new ICAL.Component(ICAL.parse(readFileSync(path, "utf8")));
  for (const tz of root.getAllSubcomponents("vtimezone")) {
    ICAL.TimezoneService.register(new ICAL.Timezone(tz));
  }
  const events = root.getAllSubcomponents("vevent").map((c) => {
    const e = new ICAL.Event(c);
    return {
      uid: e.uid,
      summary: e.summary,
      location: e.location,
      status: c.getFirstPropertyValue("status"),
      sequence: e.sequence,
      start: e.startDate.toJSDate().toISOString(),
      end: e.endDate.toJSDate().toISOString(),
      tzid: e.startDate.zone ? e.startDate.zone.tzid : null,
      alarms: c.getAllSubcomponents("valarm").map((a) => String(a.getFirstPropertyValue("trigger"))),
    };
  });
  out[path] = {
    prodid: root.getFirstPropertyValue("prodid"),
    version: root.getFirstPropertyValue("version"),
    name: root.getFirstPropertyValue("x-wr-calname"),
    method: root.getFirstPropertyValue("method"),
    events,
  };
}
process.stdout.write(JSON.stringify(out));
