"""The service layer: the one place the callers (HTTP API, pages, worker, scheduled jobs) go to.

Each function reads rows, runs a use case, stores the result and audits it, in the caller's
session, and commits where it writes; callers parse their input and render what comes back.

- ``accounts``: sign in and out, users, first start;
- ``clinics``: clinics, their scenario versions and the sections of a scenario;
- ``drafts``: schedules, drafts and their edits (cancel, move, place, why not), publishing;
- ``feeds``: feed rendering after a publish, feed links, the bytes a link serves;
- ``jobs``: queued work (:class:`JobParams`), running a job in a worker;
- ``weekly``: next week's draft, queued once per clinic and week;
- ``simulation``: a schedule's simulation as a job, the board's risk per day;
- ``board``: the week board as plain geometry;
- ``patients``: the patient list and a patient's page;
- ``reports``: utilization over the published weeks;
- ``whatif``: the manager's variants, checked and queued, and their reports.
"""
