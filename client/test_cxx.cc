// SPDX-License-Identifier: Apache-2.0
// paxwire.h compiles as C++ (the client-cxx test: g++ -fsyntax-only, -Wall -Wextra
// -Werror -pedantic): extern "C", no C-only constructs in the public header.
#include "paxwire.h"

#include <cstdint>
#include <vector>

namespace {

struct Done {
	std::vector<pw_completion> v;
};

extern "C" void on_done(void *arg, const pw_completion *d)
{
	static_cast<Done *>(arg)->v.push_back(*d);
}

[[maybe_unused]] int run(const char *addr)
{
	pw_client_opts o;
	pw_client_opts_default(&o);
	const char *members[] = { addr };
	o.members = members;
	o.n_members = 1;
	o.attempt_timeout_us = 500;
	pw_client *c = pw_client_open(&o, nullptr, 0);
	if (c == nullptr)
		return -1;
	Done done;
	pw_client_set_completion(c, on_done, &done);
	std::uint64_t id = 0;
	pw_request rq{};
	rq.op = PW_OP_PUT;
	rq.key = "k";
	rq.klen = 1;
	rq.value = "v";
	rq.vlen = 1;
	int rc = pw_submit(c, &rq, &id);
	if (rc == PW_OK)
		rc = pw_poll(c, nullptr, 0, -1) >= 0 ? PW_OK : PW_E_SYS;
	pw_completion out[4];
	(void)pw_poll(c, out, 4, 0);
	(void)pw_cancel(c, id);
	(void)pw_client_fd(c);
	pw_client_close(c);
	return rc == PW_OK && pw_err_outcome_unknown(PW_E_CANCELLED) ? 0 : 1;
}

} // namespace
