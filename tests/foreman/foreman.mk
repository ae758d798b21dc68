# Foreman/Satellite provisioning snippets (foreman/): render every snippet with Ruby's ERB for
# each parameter set in tests/foreman/params/ and check the result with fleetnode itself.
# Included from the top-level Makefile. Needs Debian's ruby, shellcheck and pykickstart
# (tests/foreman/deps.sh installs what is missing).
.PHONY: test-foreman

test-foreman:
	$(CARGO) build -p fleetnode --bin fleetnode
	bash tests/foreman/run.sh
