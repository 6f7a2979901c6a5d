-- Preventive schedules raise their own work orders (the PreventiveMaintenance
-- workflow on a Temporal Schedule). At most one open work order per schedule,
-- so a retried or repeated run never raises a second; the next one can be
-- raised once the open one is done or cancelled.
CREATE UNIQUE INDEX work_orders_open_preventive ON work_orders (tenant_id, preventive_schedule_id)
  WHERE preventive_schedule_id IS NOT NULL AND status IN ('scheduled', 'in_progress');

-- Due schedules are found per tenant among the active ones.
CREATE INDEX preventive_schedules_active ON preventive_schedules (tenant_id) WHERE active;
