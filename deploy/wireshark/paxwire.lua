-- SPDX-License-Identifier: Apache-2.0
-- Wireshark dissector for paxwire's wire format (docs/protocol.md, wire version 5).
--
-- Every message type, the crash vector, log entries, batches of client commands (kv
-- commands decoded when they parse as such), client REQUEST/REPLY bodies and the
-- authentication trailer (its fields; the tag is not checked).
--
-- Use: copy to ~/.local/lib/wireshark/plugins/ (or the system plugin dir), or
--   tshark -X lua_script:deploy/wireshark/paxwire.lua -r capture.pcap -Y paxwire
-- Datagrams are found heuristically on any UDP port (magic "PX", version 5, lengths
-- that add up); "Decode As... PAXWIRE" works too. Ethernet frames of the DPDK
-- transports carry the same UDP/IPv4 datagrams.

local p = Proto("paxwire", "paxwire replication protocol")

local HDR = 56
local TRAILER = 40
local ENTRY_HDR = 21
local CMD_HDR = 20

local types = {
	[1] = "PREVOTE", [2] = "PREVOTE_REPLY", [3] = "PREPARE", [4] = "PROMISE",
	[5] = "ACCEPT", [6] = "ACCEPTED", [7] = "NACK", [8] = "TIMEOUT_NOW",
	[9] = "STATE_NEEDED", [10] = "RECOVER", [11] = "RECOVER_REPLY", [12] = "SNAP_REQ",
	[13] = "SNAP_CHUNK", [14] = "REFUSE", [15] = "RM", [20] = "REQUEST", [21] = "REPLY",
}
local statuses = {
	[0] = "OK", [1] = "NOT_LEADER", [2] = "SESSION_EXPIRED", [3] = "BUSY",
	[4] = "BAD_COMMAND",
}
local roles = { [1] = "peer", [2] = "client", [3] = "admin" }
local admin_ops = {
	[1] = "TRANSFER", [2] = "STATS", [3] = "MEMBERS", [4] = "ADD", [5] = "REMOVE",
}
local kv_ops = { [1] = "PUT", [2] = "GET", [3] = "DEL", [4] = "CAS" }
local kv_results = {
	[0] = "OK", [1] = "NOT_FOUND", [2] = "CAS_MISMATCH", [3] = "FULL", [4] = "BAD",
}
local node_names = { [255] = "none" }
for i = 0, 8 do node_names[i] = tostring(i) end

local f = p.fields
f.magic = ProtoField.uint16("paxwire.magic", "Magic", base.HEX)
f.version = ProtoField.uint8("paxwire.version", "Version")
f.type = ProtoField.uint8("paxwire.type", "Type", base.DEC, types)
f.flags = ProtoField.uint8("paxwire.flags", "Flags", base.HEX)
f.f_last = ProtoField.bool("paxwire.flags.last", "LAST", 8, nil, 0x01)
f.f_grant = ProtoField.bool("paxwire.flags.grant", "GRANT (SNAP_NONE on SNAP_CHUNK)", 8, nil, 0x02)
f.f_force = ProtoField.bool("paxwire.flags.force", "FORCE", 8, nil, 0x04)
f.f_normal = ProtoField.bool("paxwire.flags.normal", "NORMAL", 8, nil, 0x08)
f.f_leader = ProtoField.bool("paxwire.flags.leader", "LEADER", 8, nil, 0x10)
f.f_announce = ProtoField.bool("paxwire.flags.announce", "ANNOUNCE", 8, nil, 0x20)
f.f_admin = ProtoField.bool("paxwire.flags.admin", "ADMIN", 8, nil, 0x40)
f.f_register = ProtoField.bool("paxwire.flags.register", "REGISTER", 8, nil, 0x80)
f.from = ProtoField.uint8("paxwire.from", "From", base.DEC, node_names)
f.to = ProtoField.uint8("paxwire.to", "To", base.DEC, node_names)
f.n_inc = ProtoField.uint8("paxwire.n_inc", "Crash vector entries")
f.cluster = ProtoField.uint32("paxwire.cluster_id", "Cluster id")
f.epoch = ProtoField.uint32("paxwire.config_epoch", "Configuration epoch")
f.ballot = ProtoField.uint64("paxwire.ballot", "Ballot", base.HEX)
f.ballot_round = ProtoField.uint64("paxwire.ballot.round", "Round")
f.ballot_node = ProtoField.uint8("paxwire.ballot.node", "Node")
f.total_len = ProtoField.uint32("paxwire.total_len", "Total length")
f.body_len = ProtoField.uint32("paxwire.body_len", "Body length")
f.read_round = ProtoField.uint64("paxwire.read_round", "Read round")
f.uuid_lo = ProtoField.uint64("paxwire.uuid.lo", "Cluster uuid lo", base.HEX)
f.uuid_hi = ProtoField.uint64("paxwire.uuid.hi", "Cluster uuid hi", base.HEX)
f.inc = ProtoField.uint32("paxwire.incarnation", "Incarnation")
-- bodies
f.slot_lo = ProtoField.uint64("paxwire.slot_lo", "slot_lo")
f.slot_hi = ProtoField.uint64("paxwire.slot_hi", "slot_hi")
f.commit = ProtoField.uint64("paxwire.commit", "Commit")
f.nonce = ProtoField.uint64("paxwire.nonce", "Nonce", base.HEX)
f.n_entries = ProtoField.uint32("paxwire.n_entries", "Entries")
f.snap_total = ProtoField.uint64("paxwire.snap_total", "Snapshot bytes")
f.snap_off = ProtoField.uint64("paxwire.snap_off", "Chunk offset")
f.chunk = ProtoField.bytes("paxwire.chunk", "Chunk")
-- entries and batches
f.e_slot = ProtoField.uint64("paxwire.entry.slot", "Slot")
f.e_vballot = ProtoField.uint64("paxwire.entry.vballot", "Value ballot", base.HEX)
f.e_flags = ProtoField.uint8("paxwire.entry.flags", "Entry flags", base.HEX)
f.e_chosen = ProtoField.bool("paxwire.entry.chosen", "CHOSEN", 8, nil, 0x01)
f.e_len = ProtoField.uint32("paxwire.entry.len", "Value length")
f.n_cmds = ProtoField.uint32("paxwire.batch.n_cmds", "Commands")
f.c_client = ProtoField.uint64("paxwire.cmd.client_id", "Client (session) id", base.HEX)
f.c_seq = ProtoField.uint64("paxwire.cmd.seq", "Seq")
f.c_len = ProtoField.uint32("paxwire.cmd.len", "Length")
f.c_body = ProtoField.bytes("paxwire.cmd.body", "Body")
-- client requests and replies
f.status = ProtoField.uint8("paxwire.status", "Status", base.DEC, statuses)
f.hint = ProtoField.uint8("paxwire.leader_hint", "Leader hint", base.DEC, node_names)
f.admin_op = ProtoField.uint8("paxwire.admin.op", "Admin operation", base.DEC, admin_ops)
f.kv_op = ProtoField.uint8("paxwire.kv.op", "kv op", base.DEC, kv_ops)
f.kv_key = ProtoField.bytes("paxwire.kv.key", "kv key")
f.kv_value_len = ProtoField.uint32("paxwire.kv.value_len", "kv value length")
f.kv_expect_len = ProtoField.uint32("paxwire.kv.expect_len", "kv expect length")
f.kv_result = ProtoField.uint8("paxwire.kv.result", "kv result", base.DEC, kv_results)
-- authentication trailer
f.a_key = ProtoField.uint32("paxwire.auth.key_id", "Key id")
f.a_gen = ProtoField.uint8("paxwire.auth.gen", "Key generation")
f.a_role = ProtoField.uint8("paxwire.auth.role", "Role", base.DEC, roles)
f.a_flags = ProtoField.uint16("paxwire.auth.flags", "Trailer flags", base.HEX)
f.a_life = ProtoField.uint64("paxwire.auth.life", "Life", base.HEX)
f.a_counter = ProtoField.uint64("paxwire.auth.counter", "Counter")
f.a_tag = ProtoField.bytes("paxwire.auth.tag", "GCM tag")

local e_malformed = ProtoExpert.new("paxwire.malformed", "Malformed paxwire message",
	expert.group.MALFORMED, expert.severity.ERROR)
p.experts = { e_malformed }

local function u64(tvb, off) return tvb(off, 8):le_uint64() end
local function u32(tvb, off) return tvb(off, 4):le_uint() end

local function bad(tree, tvb, off, why)
	tree:add_proto_expert_info(e_malformed, why)
	return false
end

-- A kv command (wire/wire_kv.h) if the body parses as one exactly; else nothing.
local function kv_cmd(tvb, off, len, tree)
	if len < 12 then return end
	local op, klen = tvb(off, 1):uint(), tvb(off + 1, 1):uint()
	local vlen, elen = u32(tvb, off + 4), u32(tvb, off + 8)
	local ebytes = (elen == 0xffffffff) and 0 or elen
	if kv_ops[op] == nil or 12 + klen + vlen + ebytes ~= len then return end
	tree:add(f.kv_op, tvb(off, 1))
	if klen > 0 then tree:add(f.kv_key, tvb(off + 12, klen)) end
	tree:add_le(f.kv_value_len, tvb(off + 4, 4))
	tree:add_le(f.kv_expect_len, tvb(off + 8, 4))
	return kv_ops[op]
end

local function batch(tvb, off, len, tree)
	if len < 4 then return bad(tree, tvb, off, "batch shorter than 4 bytes") end
	local n = u32(tvb, off)
	tree:add_le(f.n_cmds, tvb(off, 4))
	local p0, e = off + 4, off + len
	for i = 1, n do
		if p0 + CMD_HDR > e then return bad(tree, tvb, p0, "command header past the value") end
		local clen = u32(tvb, p0 + 16)
		if p0 + CMD_HDR + clen > e then return bad(tree, tvb, p0, "command past the value") end
		local c = tree:add(p, tvb(p0, CMD_HDR + clen), "Command " .. (i - 1))
		c:add_le(f.c_client, tvb(p0, 8))
		c:add_le(f.c_seq, tvb(p0 + 8, 8))
		c:add_le(f.c_len, tvb(p0 + 16, 4))
		if clen > 0 then
			c:add(f.c_body, tvb(p0 + CMD_HDR, clen))
			kv_cmd(tvb, p0 + CMD_HDR, clen, c)
		end
		p0 = p0 + CMD_HDR + clen
	end
	if p0 ~= e then return bad(tree, tvb, p0, "bytes after the last command") end
	return true
end

local function entries(tvb, off, e, n, tree)
	for i = 1, n do
		if off + ENTRY_HDR > e then return bad(tree, tvb, off, "entry header past the body") end
		local vlen = u32(tvb, off + 17)
		if off + ENTRY_HDR + vlen > e then return bad(tree, tvb, off, "entry value past the body") end
		local t = tree:add(p, tvb(off, ENTRY_HDR + vlen),
			"Entry: slot " .. tostring(u64(tvb, off)) .. ", " .. vlen .. " bytes")
		t:add_le(f.e_slot, tvb(off, 8))
		t:add_le(f.e_vballot, tvb(off + 8, 8))
		local fl = t:add(f.e_flags, tvb(off + 16, 1))
		fl:add(f.e_chosen, tvb(off + 16, 1))
		t:add_le(f.e_len, tvb(off + 17, 4))
		if vlen > 0 then batch(tvb, off + ENTRY_HDR, vlen, t) end
		off = off + ENTRY_HDR + vlen
	end
	return off
end

-- Fixed fields of each body: {size, {field, width}...}; entries follow where n_entries is.
local bodies = {
	[1] = { { f.slot_lo, 8 }, { f.commit, 8 } },
	[2] = { { f.slot_lo, 8 }, { f.commit, 8 } },
	[3] = { { f.slot_lo, 8 }, { f.commit, 8 } },
	[4] = { { f.slot_lo, 8 }, { f.slot_hi, 8 }, { f.commit, 8 }, { f.n_entries, 4 } },
	[5] = { { f.commit, 8 }, { f.n_entries, 4 } },
	[6] = { { f.slot_hi, 8 }, { f.commit, 8 } },
	[7] = {}, [8] = {}, [14] = {},
	[9] = { { f.slot_lo, 8 }, { f.commit, 8 } },
	[10] = { { f.slot_lo, 8 }, { f.nonce, 8 } },
	[11] = { { f.slot_lo, 8 }, { f.slot_hi, 8 }, { f.commit, 8 }, { f.nonce, 8 },
		 { f.n_entries, 4 } },
	[12] = { { f.slot_lo, 8 }, { f.slot_hi, 8 }, { f.nonce, 8 }, { f.snap_off, 8 } },
	[13] = { { f.slot_hi, 8 }, { f.nonce, 8 }, { f.snap_total, 8 }, { f.snap_off, 8 },
		 { f.body_len, 4 } },
	-- RM (docs/protocol.md): the HELLO it answers, the follower's next record and
	-- horizon, then node/node_rm.c's bytes (endpoint, region, incarnation)
	[15] = { { f.nonce, 8 }, { f.slot_lo, 8 }, { f.slot_hi, 8 }, { f.body_len, 4 } },
}

local function dissect_body(tvb, pinfo, tree, ty, off, e)
	local info = ""
	if ty == 20 then -- REQUEST
		if off + 20 > e then return bad(tree, tvb, off, "REQUEST body short") end
		tree:add_le(f.c_client, tvb(off, 8))
		tree:add_le(f.c_seq, tvb(off + 8, 8))
		tree:add_le(f.c_len, tvb(off + 16, 4))
		local blen = u32(tvb, off + 16)
		if off + 20 + blen ~= e then return bad(tree, tvb, off, "REQUEST body length") end
		info = " seq=" .. tostring(u64(tvb, off + 8))
		if blen > 0 then
			tree:add(f.c_body, tvb(off + 20, blen))
			if bit.band(tvb(4, 1):uint(), 0x40) ~= 0 then
				tree:add(f.admin_op, tvb(off + 20, 1))
				info = info .. " admin " .. (admin_ops[tvb(off + 20, 1):uint()] or "?")
			else
				local op = kv_cmd(tvb, off + 20, blen, tree)
				if op then info = info .. " " .. op end
			end
		end
		return info
	elseif ty == 21 then -- REPLY
		if off + 22 > e then return bad(tree, tvb, off, "REPLY body short") end
		tree:add_le(f.c_client, tvb(off, 8))
		tree:add_le(f.c_seq, tvb(off + 8, 8))
		tree:add(f.status, tvb(off + 16, 1))
		tree:add(f.hint, tvb(off + 17, 1))
		tree:add_le(f.c_len, tvb(off + 18, 4))
		local blen = u32(tvb, off + 18)
		if off + 22 + blen ~= e then return bad(tree, tvb, off, "REPLY body length") end
		if blen > 0 then
			tree:add(f.c_body, tvb(off + 22, blen))
			if blen >= 5 and kv_results[tvb(off + 22, 1):uint()] ~= nil and
			   5 + u32(tvb, off + 23) == blen then
				tree:add(f.kv_result, tvb(off + 22, 1))
			end
		end
		return " seq=" .. tostring(u64(tvb, off + 8)) .. " " ..
			(statuses[tvb(off + 16, 1):uint()] or "?")
	end
	local spec = bodies[ty]
	local n_entries, p0 = nil, off
	for _, fw in ipairs(spec) do
		if p0 + fw[2] > e then return bad(tree, tvb, p0, "body shorter than its fixed part") end
		tree:add_le(fw[1], tvb(p0, fw[2]))
		if fw[1] == f.n_entries then n_entries = u32(tvb, p0) end
		if fw[1] == f.commit then info = info .. " commit=" .. tostring(u64(tvb, p0)) end
		p0 = p0 + fw[2]
	end
	if n_entries then
		if n_entries > 64 then return bad(tree, tvb, p0, "more than 64 entries") end
		info = info .. " entries=" .. n_entries
		local q = entries(tvb, p0, e, n_entries, tree)
		if q == false then return false end
		p0 = q
	elseif ty == 13 then
		local clen = u32(tvb, off + 32)
		if p0 + clen > e then return bad(tree, tvb, p0, "chunk past the body") end
		if clen > 0 then tree:add(f.chunk, tvb(p0, clen)) end
		p0 = p0 + clen
	elseif ty == 15 then
		local blen = u32(tvb, off + 24)
		if p0 + blen > e then return bad(tree, tvb, p0, "RM body past the datagram") end
		if blen > 0 then tree:add(f.chunk, tvb(p0, blen)) end
		p0 = p0 + blen
	end
	if p0 ~= e then return bad(tree, tvb, p0, "bytes after the body") end
	return info
end

local function looks_like(tvb)
	local len = tvb:len()
	if len < HDR then return false end
	if tvb(0, 2):le_uint() ~= 0x5850 or tvb(2, 1):uint() ~= 5 then return false end
	if types[tvb(3, 1):uint()] == nil then return false end
	local total = u32(tvb, 24)
	return total == len or total + TRAILER == len
end

function p.dissector(tvb, pinfo, root)
	if not looks_like(tvb) then return 0 end
	local len = tvb:len()
	local total = u32(tvb, 24)
	local ty, n_inc = tvb(3, 1):uint(), tvb(7, 1):uint()
	pinfo.cols.protocol = "PAXWIRE"
	local tree = root:add(p, tvb(0, len))
	tree:add_le(f.magic, tvb(0, 2))
	tree:add(f.version, tvb(2, 1))
	tree:add(f.type, tvb(3, 1))
	local fl = tree:add(f.flags, tvb(4, 1))
	for _, b in ipairs({ f.f_last, f.f_grant, f.f_force, f.f_normal, f.f_leader,
			     f.f_announce, f.f_admin, f.f_register }) do
		fl:add(b, tvb(4, 1))
	end
	tree:add(f.from, tvb(5, 1))
	tree:add(f.to, tvb(6, 1))
	tree:add(f.n_inc, tvb(7, 1))
	tree:add_le(f.cluster, tvb(8, 4))
	tree:add_le(f.epoch, tvb(12, 4))
	local bt = tree:add_le(f.ballot, tvb(16, 8))
	local ballot = u64(tvb, 16)
	bt:add(f.ballot_round, tvb(16, 8), ballot:rshift(8))
	bt:add(f.ballot_node, tvb(16, 1))
	tree:add_le(f.total_len, tvb(24, 4))
	tree:add_le(f.body_len, tvb(28, 4))
	tree:add_le(f.read_round, tvb(32, 8))
	tree:add_le(f.uuid_lo, tvb(40, 8))
	tree:add_le(f.uuid_hi, tvb(48, 8))
	local info = types[ty] .. " " .. node_names[tvb(5, 1):uint()] .. "->" ..
		(node_names[tvb(6, 1):uint()] or tostring(tvb(6, 1):uint()))
	local body_len = u32(tvb, 28)
	if n_inc > 9 or HDR + 4 * n_inc + body_len ~= total then
		bad(tree, tvb, 0, "lengths do not add up")
		pinfo.cols.info = info .. " [malformed]"
		return len
	end
	if n_inc > 0 then
		local cv = tree:add(p, tvb(HDR, 4 * n_inc), "Crash vector")
		for i = 0, n_inc - 1 do
			cv:add_le(f.inc, tvb(HDR + 4 * i, 4)):prepend_text("node " .. i .. ": ")
		end
	end
	local bstart = HDR + 4 * n_inc
	local bt2 = tree
	if body_len > 0 then bt2 = tree:add(p, tvb(bstart, body_len), "Body") end
	local more = dissect_body(tvb, pinfo, bt2, ty, bstart, total)
	if more == false then
		info = info .. " [malformed]"
	else
		info = info .. more
	end
	if len == total + TRAILER then
		local t = tree:add(p, tvb(total, TRAILER), "Authentication trailer")
		t:add_le(f.a_key, tvb(total, 4))
		t:add(f.a_gen, tvb(total + 4, 1))
		t:add(f.a_role, tvb(total + 5, 1))
		t:add_le(f.a_flags, tvb(total + 6, 2))
		t:add_le(f.a_life, tvb(total + 8, 8))
		t:add_le(f.a_counter, tvb(total + 16, 8))
		t:add(f.a_tag, tvb(total + 24, 16))
	end
	pinfo.cols.info = info
	return len
end

local function heuristic(tvb, pinfo, root)
	if not looks_like(tvb) then return false end
	p.dissector(tvb, pinfo, root)
	return true
end

p:register_heuristic("udp", heuristic)
-- The deploy/ files' ports (7100-7108); other ports are found by the heuristic, which
-- Wireshark tries only after a dissector registered for the port declined: where a port
-- belongs to another protocol, use -o udp.try_heuristic_first:TRUE or Decode As.
local udp_port = DissectorTable.get("udp.port")
udp_port:add("7100-7108", p)
udp_port:add_for_decode_as(p)
