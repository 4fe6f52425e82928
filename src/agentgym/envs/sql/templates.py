"""Question templates over our four databases, at BIRD's three difficulty levels.

A template is a question text, a gold SQL and an optional evidence line (BIRD's "external
knowledge" hint), with ``{slots}`` filled from *real values* drawn from the database by a value
query. ``simple`` = one table with filters; ``moderate`` = joins, aggregates, GROUP BY;
``challenging`` = nested subqueries, HAVING, comparisons against aggregates. Questions that ask for
"the most"/"the least" use ``= (SELECT MAX(...))`` rather than ``LIMIT 1`` so ties cannot make the
gold answer arbitrary.

Slot values are interpolated as SQL literals with `lit` (quotes doubled); they come from our own
databases, never from a model.
"""

from __future__ import annotations

from dataclasses import dataclass


def lit(value: object) -> str:
    """``value`` as an SQL literal."""
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class Template:
    db_id: str
    difficulty: str
    question: str
    sql: str
    values: str  # a query whose rows give the slot values, columns named as the slots
    evidence: str = ""


T = Template
TEMPLATES: tuple[Template, ...] = (
    # ----------------------------------------------------------------------------- chinook
    T("chinook", "simple", "How many customers live in {country}?",
      "SELECT COUNT(*) FROM customer WHERE country = {country}",
      "SELECT DISTINCT country FROM customer"),
    T("chinook", "simple", "List the first and last names of the customers who live in the city of {city}.",
      "SELECT firstname, lastname FROM customer WHERE city = {city}",
      "SELECT DISTINCT city FROM customer"),
    T("chinook", "simple", "Which tracks were composed by {composer}? Give their names.",
      "SELECT name FROM track WHERE composer = {composer}",
      "SELECT DISTINCT composer FROM track WHERE composer IS NOT NULL"),
    T("chinook", "simple", "How many invoices billed to {country} were issued in {year}?",
      "SELECT COUNT(*) FROM invoice WHERE billingcountry = {country} AND strftime('%Y', invoicedate) = {year}",
      "SELECT DISTINCT billingcountry AS country, strftime('%Y', invoicedate) AS year FROM invoice",
      "the year of an invoice is strftime('%Y', invoicedate)"),
    T("chinook", "simple", "What is the total of invoice number {invoice_id}?",
      "SELECT total FROM invoice WHERE invoice_id = {invoice_id}",
      "SELECT invoice_id FROM invoice"),
    T("chinook", "simple", "Name the tracks longer than {minutes} minutes that cost {price} dollars.",
      "SELECT name FROM track WHERE milliseconds > {minutes} * 60000 AND unit_price = {price}",
      "SELECT m AS minutes, p AS price FROM (SELECT 8 AS m UNION SELECT 10 UNION SELECT 12 UNION SELECT 15), "
      "(SELECT DISTINCT unit_price AS p FROM track)",
      "one minute is 60000 milliseconds"),
    T("chinook", "moderate", "List the titles of the albums by the artist {artist}.",
      "SELECT T1.title FROM album AS T1 JOIN artist AS T2 ON T1.artist_id = T2.artist_id WHERE T2.name = {artist}",
      "SELECT DISTINCT T2.name AS artist FROM album AS T1 JOIN artist AS T2 ON T1.artist_id = T2.artist_id"),
    T("chinook", "moderate", "How many tracks belong to the {genre} genre?",
      "SELECT COUNT(*) FROM track AS T1 JOIN genre AS T2 ON T1.genre_id = T2.genre_id WHERE T2.name = {genre}",
      "SELECT name AS genre FROM genre"),
    T("chinook", "moderate", "Which artist recorded the album {album}?",
      "SELECT T2.name FROM album AS T1 JOIN artist AS T2 ON T1.artist_id = T2.artist_id WHERE T1.title = {album}",
      "SELECT title AS album FROM album"),
    T("chinook", "moderate", "What is the total amount that {first} {last} has spent on invoices?",
      "SELECT SUM(T2.total) FROM customer AS T1 JOIN invoice AS T2 ON T1.customer_id = T2.customer_id "
      "WHERE T1.firstname = {first} AND T1.lastname = {last}",
      "SELECT firstname AS first, lastname AS last FROM customer",
      "the amount spent is the sum of the totals of the customer's invoices"),
    T("chinook", "moderate", "How many tracks are on the playlist {playlist}?",
      "SELECT COUNT(*) FROM playlist_track AS T1 JOIN playlist AS T2 ON T1.playlist_id = T2.playlist_id "
      "WHERE T2.name = {playlist}",
      "SELECT DISTINCT name AS playlist FROM playlist"),
    T("chinook", "moderate", "What is the average length in milliseconds of the tracks on the album {album}?",
      "SELECT AVG(T1.milliseconds) FROM track AS T1 JOIN album AS T2 ON T1.album_id = T2.album_id "
      "WHERE T2.title = {album}",
      "SELECT title AS album FROM album"),
    T("chinook", "moderate", "List the names of the {media} tracks in the {genre} genre.",
      "SELECT T1.name FROM track AS T1 JOIN genre AS T2 ON T1.genre_id = T2.genre_id JOIN media_type AS T3 "
      "ON T1.media_type_id = T3.media_type_id WHERE T2.name = {genre} AND T3.name = {media}",
      "SELECT DISTINCT T2.name AS genre, T3.name AS media FROM track AS T1 JOIN genre AS T2 ON "
      "T1.genre_id = T2.genre_id JOIN media_type AS T3 ON T1.media_type_id = T3.media_type_id"),
    T("chinook", "moderate", "Which customers are supported by the employee {first} {last}? Give their emails.",
      "SELECT T1.email FROM customer AS T1 JOIN employee AS T2 ON T1.support_rep_id = T2.employee_id "
      "WHERE T2.firstname = {first} AND T2.lastname = {last}",
      "SELECT DISTINCT T2.firstname AS first, T2.lastname AS last FROM customer AS T1 JOIN employee AS T2 "
      "ON T1.support_rep_id = T2.employee_id"),
    T("chinook", "challenging", "Which tracks on the album {album} are longer than the album's average track?",
      "SELECT T1.name FROM track AS T1 JOIN album AS T2 ON T1.album_id = T2.album_id WHERE T2.title = {album} "
      "AND T1.milliseconds > (SELECT AVG(T3.milliseconds) FROM track AS T3 WHERE T3.album_id = T2.album_id)",
      "SELECT title AS album FROM album WHERE album_id IN "
      "(SELECT album_id FROM track GROUP BY album_id HAVING COUNT(*) > 2)"),
    T("chinook", "challenging", "Which album by {artist} has the most tracks?",
      "SELECT T2.title FROM track AS T1 JOIN album AS T2 ON T1.album_id = T2.album_id JOIN artist AS T3 ON "
      "T2.artist_id = T3.artist_id WHERE T3.name = {artist} GROUP BY T2.album_id HAVING COUNT(*) = (SELECT "
      "MAX(n) FROM (SELECT COUNT(*) AS n FROM track AS T4 JOIN album AS T5 ON T4.album_id = T5.album_id "
      "WHERE T5.artist_id = T3.artist_id GROUP BY T4.album_id))",
      "SELECT T2.name AS artist FROM album AS T1 JOIN artist AS T2 ON T1.artist_id = T2.artist_id "
      "GROUP BY T2.artist_id HAVING COUNT(*) > 1"),
    T("chinook", "challenging", "Which customers from {country} spent more in total than the average customer?",
      "SELECT T1.firstname, T1.lastname FROM customer AS T1 JOIN invoice AS T2 ON T1.customer_id = "
      "T2.customer_id WHERE T1.country = {country} GROUP BY T1.customer_id HAVING SUM(T2.total) > (SELECT "
      "AVG(s) FROM (SELECT SUM(total) AS s FROM invoice GROUP BY customer_id))",
      "SELECT DISTINCT country FROM customer",
      "a customer's spending is the sum of the totals of their invoices"),
    T("chinook", "challenging", "Which genres have more than {n} tracks priced at {price}?",
      "SELECT T2.name FROM track AS T1 JOIN genre AS T2 ON T1.genre_id = T2.genre_id WHERE T1.unit_price = "
      "{price} GROUP BY T2.genre_id HAVING COUNT(*) > {n}",
      "SELECT n, p AS price FROM (SELECT 10 AS n UNION SELECT 50 UNION SELECT 100 UNION SELECT 300), "
      "(SELECT DISTINCT unit_price AS p FROM track)"),
    # -------------------------------------------------------------------------------- tpch
    T("tpch", "simple", "How many customers in the {segment} market segment have an account balance above {bal}?",
      "SELECT COUNT(*) FROM customer WHERE c_mktsegment = {segment} AND c_acctbal > {bal}",
      "SELECT DISTINCT c_mktsegment AS segment, b AS bal FROM customer, (SELECT 0 AS b UNION SELECT 2500 "
      "UNION SELECT 5000 UNION SELECT 7500 UNION SELECT 9000)"),
    T("tpch", "simple", "What is the phone number of {customer}?",
      "SELECT c_phone FROM customer WHERE c_name = {customer}",
      "SELECT c_name AS customer FROM customer"),
    T("tpch", "simple", "List the names of the parts of brand {brand} with size {size}.",
      "SELECT p_name FROM part WHERE p_brand = {brand} AND p_size = {size}",
      "SELECT DISTINCT p_brand AS brand, p_size AS size FROM part"),
    T("tpch", "simple", "How many orders with priority {priority} have the status {status}?",
      "SELECT COUNT(*) FROM orders WHERE o_orderpriority = {priority} AND o_orderstatus = {status}",
      "SELECT DISTINCT o_orderpriority AS priority, o_orderstatus AS status FROM orders"),
    T("tpch", "simple", "What is the total price of order {orderkey}?",
      "SELECT o_totalprice FROM orders WHERE o_orderkey = {orderkey}",
      "SELECT o_orderkey AS orderkey FROM orders"),
    T("tpch", "simple", "Which clerk handled order {orderkey}, and on what date was it placed?",
      "SELECT o_clerk, o_orderdate FROM orders WHERE o_orderkey = {orderkey}",
      "SELECT o_orderkey AS orderkey FROM orders"),
    T("tpch", "moderate", "How many customers are from {nation}?",
      "SELECT COUNT(*) FROM customer AS T1 JOIN nation AS T2 ON T1.c_nationkey = T2.n_nationkey "
      "WHERE T2.n_name = {nation}",
      "SELECT n_name AS nation FROM nation"),
    T("tpch", "moderate", "List the names of the suppliers located in the region {region}.",
      "SELECT T1.s_name FROM supplier AS T1 JOIN nation AS T2 ON T1.s_nationkey = T2.n_nationkey JOIN region "
      "AS T3 ON T2.n_regionkey = T3.r_regionkey WHERE T3.r_name = {region}",
      "SELECT r_name AS region FROM region"),
    T("tpch", "moderate", "What is the total quantity of items in order {orderkey}?",
      "SELECT SUM(l_quantity) FROM lineitem WHERE l_orderkey = {orderkey}",
      "SELECT o_orderkey AS orderkey FROM orders"),
    T("tpch", "moderate", "How many orders did {customer} place?",
      "SELECT COUNT(*) FROM orders AS T1 JOIN customer AS T2 ON T1.o_custkey = T2.c_custkey "
      "WHERE T2.c_name = {customer}",
      "SELECT DISTINCT T2.c_name AS customer FROM orders AS T1 JOIN customer AS T2 ON T1.o_custkey = T2.c_custkey"),
    T("tpch", "moderate", "What is the average supply cost of the parts supplied by {supplier}?",
      "SELECT AVG(T1.ps_supplycost) FROM partsupp AS T1 JOIN supplier AS T2 ON T1.ps_suppkey = T2.s_suppkey "
      "WHERE T2.s_name = {supplier}",
      "SELECT s_name AS supplier FROM supplier"),
    T("tpch", "moderate", "Which nation is {supplier} located in?",
      "SELECT T2.n_name FROM supplier AS T1 JOIN nation AS T2 ON T1.s_nationkey = T2.n_nationkey "
      "WHERE T1.s_name = {supplier}",
      "SELECT s_name AS supplier FROM supplier"),
    T("tpch", "moderate", "How many line items of order {orderkey} were shipped by {mode}?",
      "SELECT COUNT(*) FROM lineitem WHERE l_orderkey = {orderkey} AND l_shipmode = {mode}",
      "SELECT DISTINCT l_orderkey AS orderkey, l_shipmode AS mode FROM lineitem WHERE l_orderkey % 7 = 0"),
    T("tpch", "moderate", "For each order placed by {customer}, give the order key and the number of line items.",
      "SELECT T1.o_orderkey, COUNT(*) FROM orders AS T1 JOIN customer AS T2 ON T1.o_custkey = T2.c_custkey "
      "JOIN lineitem AS T3 ON T3.l_orderkey = T1.o_orderkey WHERE T2.c_name = {customer} GROUP BY T1.o_orderkey",
      "SELECT DISTINCT T2.c_name AS customer FROM orders AS T1 JOIN customer AS T2 ON T1.o_custkey = T2.c_custkey"),
    T("tpch", "challenging", "Which customers from {nation} have an account balance above the average "
      "account balance of all customers?",
      "SELECT T1.c_name FROM customer AS T1 JOIN nation AS T2 ON T1.c_nationkey = T2.n_nationkey WHERE "
      "T2.n_name = {nation} AND T1.c_acctbal > (SELECT AVG(c_acctbal) FROM customer)",
      "SELECT n_name AS nation FROM nation"),
    T("tpch", "challenging", "Which suppliers in {nation} have an account balance above the average of the "
      "suppliers in that nation?",
      "SELECT T1.s_name FROM supplier AS T1 JOIN nation AS T2 ON T1.s_nationkey = T2.n_nationkey WHERE "
      "T2.n_name = {nation} AND T1.s_acctbal > (SELECT AVG(T3.s_acctbal) FROM supplier AS T3 WHERE "
      "T3.s_nationkey = T2.n_nationkey)",
      "SELECT DISTINCT T2.n_name AS nation FROM supplier AS T1 JOIN nation AS T2 ON T1.s_nationkey = T2.n_nationkey"),
    T("tpch", "challenging", "Which parts of brand {brand} have a retail price higher than the average retail "
      "price of all parts of size {size}?",
      "SELECT p_name FROM part WHERE p_brand = {brand} AND p_retailprice > (SELECT AVG(p_retailprice) FROM "
      "part WHERE p_size = {size})",
      "SELECT DISTINCT p_brand AS brand, p_size AS size FROM part WHERE p_size % 5 = 0"),
    T("tpch", "challenging", "What is the most expensive order placed by {customer}? Give its key and total price.",
      "SELECT o_orderkey, o_totalprice FROM orders WHERE o_custkey = (SELECT c_custkey FROM customer WHERE "
      "c_name = {customer}) AND o_totalprice = (SELECT MAX(o_totalprice) FROM orders WHERE o_custkey = "
      "(SELECT c_custkey FROM customer WHERE c_name = {customer}))",
      "SELECT DISTINCT T2.c_name AS customer FROM orders AS T1 JOIN customer AS T2 ON T1.o_custkey = T2.c_custkey"),
    T("tpch", "challenging", "How many customers in {nation} have never placed an order?",
      "SELECT COUNT(*) FROM customer AS T1 JOIN nation AS T2 ON T1.c_nationkey = T2.n_nationkey WHERE "
      "T2.n_name = {nation} AND T1.c_custkey NOT IN (SELECT o_custkey FROM orders)",
      "SELECT n_name AS nation FROM nation"),
    # ------------------------------------------------------------------------------ school
    T("school", "simple", "How many students in grade {grade} live in {city}?",
      "SELECT COUNT(*) FROM student WHERE grade_level = {grade} AND city = {city}",
      "SELECT DISTINCT grade_level AS grade, city FROM student"),
    T("school", "simple", "List the full names of the teachers hired in {year}.",
      "SELECT first_name, last_name FROM teacher WHERE hire_year = {year}",
      "SELECT DISTINCT hire_year AS year FROM teacher",
      "full name refers to first_name and last_name"),
    T("school", "simple", "What is the budget of the {dept} department?",
      "SELECT budget FROM department WHERE name = {dept}",
      "SELECT name AS dept FROM department"),
    T("school", "simple", "How many {gender_word} students were born in {year}?",
      "SELECT COUNT(*) FROM student WHERE gender = {gender} AND birth_year = {year}",
      "SELECT DISTINCT gender, CASE gender WHEN 'F' THEN 'female' ELSE 'male' END AS gender_word, "
      "birth_year AS year FROM student",
      "gender 'F' means female and 'M' means male"),
    T("school", "moderate", "How many students are enrolled in {course} in the {semester} semester?",
      "SELECT COUNT(*) FROM enrollment AS T1 JOIN course AS T2 ON T1.course_id = T2.course_id WHERE "
      "T2.title = {course} AND T1.semester = {semester}",
      "SELECT DISTINCT T2.title AS course, T1.semester FROM enrollment AS T1 JOIN course AS T2 "
      "ON T1.course_id = T2.course_id"),
    T("school", "moderate", "What is the average score in {course}?",
      "SELECT AVG(T1.score) FROM enrollment AS T1 JOIN course AS T2 ON T1.course_id = T2.course_id "
      "WHERE T2.title = {course}",
      "SELECT title AS course FROM course"),
    T("school", "moderate", "Which courses does {first} {last} teach?",
      "SELECT T1.title FROM course AS T1 JOIN teacher AS T2 ON T1.teacher_id = T2.teacher_id WHERE "
      "T2.first_name = {first} AND T2.last_name = {last}",
      "SELECT DISTINCT T2.first_name AS first, T2.last_name AS last FROM course AS T1 JOIN teacher AS T2 "
      "ON T1.teacher_id = T2.teacher_id"),
    T("school", "moderate", "How many teachers work in the {dept} department?",
      "SELECT COUNT(*) FROM teacher AS T1 JOIN department AS T2 ON T1.department_id = T2.department_id "
      "WHERE T2.name = {dept}",
      "SELECT name AS dept FROM department"),
    T("school", "moderate", "Which courses did the student {first} {last} from {city} take, and with what scores?",
      "SELECT T3.title, T2.score FROM student AS T1 JOIN enrollment AS T2 ON T1.student_id = T2.student_id "
      "JOIN course AS T3 ON T2.course_id = T3.course_id WHERE T1.first_name = {first} AND T1.last_name = "
      "{last} AND T1.city = {city}",
      "SELECT first_name AS first, last_name AS last, city FROM student WHERE student_id % 3 = 0"),
    T("school", "moderate", "For each semester, how many enrollments scored at least {score} in {course}?",
      "SELECT T1.semester, COUNT(*) FROM enrollment AS T1 JOIN course AS T2 ON T1.course_id = T2.course_id "
      "WHERE T2.title = {course} AND T1.score >= {score} GROUP BY T1.semester",
      "SELECT title AS course, s AS score FROM course, (SELECT 60 AS s UNION SELECT 75 UNION SELECT 90)"),
    T("school", "challenging", "Which students scored above the average score of {course} in that course? "
      "Give their first and last names.",
      "SELECT T1.first_name, T1.last_name FROM student AS T1 JOIN enrollment AS T2 ON T1.student_id = "
      "T2.student_id JOIN course AS T3 ON T2.course_id = T3.course_id WHERE T3.title = {course} AND T2.score > "
      "(SELECT AVG(T4.score) FROM enrollment AS T4 WHERE T4.course_id = T3.course_id)",
      "SELECT title AS course FROM course"),
    T("school", "challenging", "Which teachers in the {dept} department earn more than the department's "
      "average salary?",
      "SELECT T1.first_name, T1.last_name FROM teacher AS T1 JOIN department AS T2 ON T1.department_id = "
      "T2.department_id WHERE T2.name = {dept} AND T1.salary > (SELECT AVG(T3.salary) FROM teacher AS T3 "
      "WHERE T3.department_id = T2.department_id)",
      "SELECT name AS dept FROM department"),
    T("school", "challenging", "Which departments have more than {n} teachers hired after {year}?",
      "SELECT T2.name FROM teacher AS T1 JOIN department AS T2 ON T1.department_id = T2.department_id WHERE "
      "T1.hire_year > {year} GROUP BY T2.department_id HAVING COUNT(*) > {n}",
      "SELECT n, y AS year FROM (SELECT 2 AS n UNION SELECT 4 UNION SELECT 6), "
      "(SELECT DISTINCT hire_year AS y FROM teacher WHERE hire_year < 2015)"),
    T("school", "challenging", "Which course in the {dept} department has the highest average score?",
      "SELECT T1.title FROM course AS T1 JOIN enrollment AS T2 ON T1.course_id = T2.course_id JOIN department "
      "AS T3 ON T1.department_id = T3.department_id WHERE T3.name = {dept} GROUP BY T1.course_id HAVING "
      "AVG(T2.score) = (SELECT MAX(a) FROM (SELECT AVG(T4.score) AS a FROM enrollment AS T4 JOIN course AS T5 "
      "ON T4.course_id = T5.course_id WHERE T5.department_id = T3.department_id GROUP BY T5.course_id))",
      "SELECT name AS dept FROM department"),
    # ---------------------------------------------------------------------------- hospital
    T("hospital", "simple", "How many patients with blood type {blood} live in {city}?",
      "SELECT COUNT(*) FROM patient WHERE blood_type = {blood} AND city = {city}",
      "SELECT DISTINCT blood_type AS blood, city FROM patient"),
    T("hospital", "simple", "How many admissions in {year} were for {diagnosis}?",
      "SELECT COUNT(*) FROM admission WHERE diagnosis = {diagnosis} AND strftime('%Y', admit_date) = {year}",
      "SELECT DISTINCT diagnosis, strftime('%Y', admit_date) AS year FROM admission",
      "the year of an admission is strftime('%Y', admit_date)"),
    T("hospital", "simple", "List the names of the doctors who are {specialty}s with more than {years} years "
      "of experience.",
      "SELECT first_name, last_name FROM doctor WHERE specialty = {specialty} AND years_experience > {years}",
      "SELECT DISTINCT specialty, y AS years FROM doctor, (SELECT 5 AS y UNION SELECT 10 UNION SELECT 20)"),
    T("hospital", "simple", "How many beds does the {ward} ward have?",
      "SELECT beds FROM ward WHERE name = {ward}",
      "SELECT name AS ward FROM ward"),
    T("hospital", "simple", "Which {sex_word} patients born before {year} are uninsured? Give their names.",
      "SELECT first_name, last_name FROM patient WHERE sex = {sex} AND birth_year < {year} AND insured = 0",
      "SELECT DISTINCT sex, CASE sex WHEN 'F' THEN 'female' ELSE 'male' END AS sex_word, y AS year FROM "
      "patient, (SELECT 1940 AS y UNION SELECT 1945 UNION SELECT 1950)",
      "insured = 0 means uninsured; sex 'F' is female and 'M' is male"),
    T("hospital", "moderate", "How many admissions did Dr. {first} {last} handle?",
      "SELECT COUNT(*) FROM admission AS T1 JOIN doctor AS T2 ON T1.doctor_id = T2.doctor_id WHERE "
      "T2.first_name = {first} AND T2.last_name = {last}",
      "SELECT DISTINCT first_name AS first, last_name AS last FROM doctor"),
    T("hospital", "moderate", "What is the total cost of the {diagnosis} admissions of patients from {city}?",
      "SELECT SUM(T1.cost) FROM admission AS T1 JOIN patient AS T2 ON T1.patient_id = T2.patient_id WHERE "
      "T1.diagnosis = {diagnosis} AND T2.city = {city}",
      "SELECT DISTINCT T1.diagnosis, T2.city FROM admission AS T1 JOIN patient AS T2 ON T1.patient_id = T2.patient_id"),
    T("hospital", "moderate", "Which drugs were prescribed during admissions for {diagnosis}?",
      "SELECT DISTINCT T1.drug FROM prescription AS T1 JOIN admission AS T2 ON T1.admission_id = "
      "T2.admission_id WHERE T2.diagnosis = {diagnosis}",
      "SELECT DISTINCT diagnosis FROM admission"),
    T("hospital", "moderate", "In which ward does Dr. {first} {last} work?",
      "SELECT T2.name FROM doctor AS T1 JOIN ward AS T2 ON T1.ward_id = T2.ward_id WHERE T1.first_name = "
      "{first} AND T1.last_name = {last}",
      "SELECT DISTINCT first_name AS first, last_name AS last FROM doctor"),
    T("hospital", "moderate", "What diagnoses did patient {first} {last} born in {year} receive?",
      "SELECT T1.diagnosis FROM admission AS T1 JOIN patient AS T2 ON T1.patient_id = T2.patient_id WHERE "
      "T2.first_name = {first} AND T2.last_name = {last} AND T2.birth_year = {year}",
      "SELECT DISTINCT T2.first_name AS first, T2.last_name AS last, T2.birth_year AS year FROM admission "
      "AS T1 JOIN patient AS T2 ON T1.patient_id = T2.patient_id"),
    T("hospital", "moderate", "For each diagnosis, how many admissions did {specialty}s handle in {year}?",
      "SELECT T1.diagnosis, COUNT(*) FROM admission AS T1 JOIN doctor AS T2 ON T1.doctor_id = T2.doctor_id "
      "WHERE T2.specialty = {specialty} AND strftime('%Y', T1.admit_date) = {year} GROUP BY T1.diagnosis",
      "SELECT DISTINCT specialty, y AS year FROM doctor, (SELECT '2021' AS y UNION SELECT '2022' UNION "
      "SELECT '2023')",
      "the year of an admission is strftime('%Y', admit_date)"),
    T("hospital", "challenging", "Which patients from {city} had an admission that cost more than the average "
      "cost of {diagnosis} admissions?",
      "SELECT DISTINCT T2.first_name, T2.last_name FROM admission AS T1 JOIN patient AS T2 ON T1.patient_id = "
      "T2.patient_id WHERE T2.city = {city} AND T1.cost > (SELECT AVG(cost) FROM admission WHERE diagnosis = "
      "{diagnosis})",
      "SELECT DISTINCT T1.diagnosis, T2.city FROM admission AS T1 JOIN patient AS T2 ON T1.patient_id = T2.patient_id"),
    T("hospital", "challenging", "Which doctor specialty handled the most admissions in {year}?",
      "SELECT T2.specialty FROM admission AS T1 JOIN doctor AS T2 ON T1.doctor_id = T2.doctor_id WHERE "
      "strftime('%Y', T1.admit_date) = {year} GROUP BY T2.specialty HAVING COUNT(*) = (SELECT MAX(n) FROM "
      "(SELECT COUNT(*) AS n FROM admission AS T3 JOIN doctor AS T4 ON T3.doctor_id = T4.doctor_id WHERE "
      "strftime('%Y', T3.admit_date) = {year} GROUP BY T4.specialty))",
      "SELECT DISTINCT strftime('%Y', admit_date) AS year FROM admission",
      "the year of an admission is strftime('%Y', admit_date)"),
    T("hospital", "challenging", "Which doctors in the {ward} ward handled more than {n} admissions?",
      "SELECT T2.first_name, T2.last_name FROM admission AS T1 JOIN doctor AS T2 ON T1.doctor_id = T2.doctor_id "
      "JOIN ward AS T3 ON T2.ward_id = T3.ward_id WHERE T3.name = {ward} GROUP BY T2.doctor_id HAVING "
      "COUNT(*) > {n}",
      "SELECT name AS ward, n FROM ward, (SELECT 60 AS n UNION SELECT 70 UNION SELECT 80)"),
    T("hospital", "challenging", "How many patients from {city} were never admitted for {diagnosis}?",
      "SELECT COUNT(*) FROM patient WHERE city = {city} AND patient_id NOT IN (SELECT patient_id FROM "
      "admission WHERE diagnosis = {diagnosis})",
      "SELECT DISTINCT T1.diagnosis, T2.city FROM admission AS T1 JOIN patient AS T2 ON T1.patient_id = T2.patient_id"),
)  # fmt: skip
