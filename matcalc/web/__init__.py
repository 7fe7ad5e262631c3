"""``matcalc serve``: a local web page over the engine, in the manner of
matrixcalculus.org, that works with no network (SPEC §7).

``app`` is the Starlette application and its JSON API, ``workers`` the bounded pool of
processes that do the symbolic work, ``engine`` what a worker runs, ``cli`` the
``serve`` command, and ``static/`` the page with the vendored KaTeX.  Importing this
package imports nothing heavy; the web framework is the optional ``matcalc[web]``.
"""
