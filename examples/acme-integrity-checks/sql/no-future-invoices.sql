-- id: acme/no-future-invoices
-- title: Invoices dated in the future
-- severity: error
-- description: An invoice is issued today or earlier; one dated later is a typo in the date, or an
--   invoice created before the work it bills.
-- object: Billing Dept.invoices.issued_on
-- key: id
-- message: invoices dated after today: {count}
-- repairSql: UPDATE "Billing Dept".invoices SET issued_on = CURRENT_DATE WHERE issued_on > CURRENT_DATE;
-- repairDescription: date the invoices dated in the future today, once each has been checked
SELECT i.id, i.issued_on
  FROM "Billing Dept".invoices AS i
 WHERE i.issued_on > CURRENT_DATE
