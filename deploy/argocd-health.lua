-- Argo CD custom health check for fledge.dev Rollouts (resource.customizations.health.fledge.dev_Rollout).
-- Argo CD runs it with the live object as `obj` and reads the returned table's status and message.
-- Phases map the way Argo CD's own Rollout check maps them: a pause a person must lift is
-- Suspended, a rollback that ended is Degraded, anything still moving is Progressing.
local hs = {}

local function condition(kind)
  for _, c in ipairs((obj.status or {}).conditions or {}) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

-- Status from before the latest spec change says nothing about the new spec yet: a refused spec
-- the user has fixed must not read Degraded until the controller catches up, or a sync with
-- waves or hooks fails on it. Checked first, as Argo CD's own Rollout check does.
local status = obj.status or {}
if obj.metadata.generation ~= nil and status.observedGeneration ~= nil
    and status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "waiting for the controller to observe the latest spec"
  return hs
end

-- A spec the controller refuses never moves, so it must not look like progress; such a
-- Rollout has conditions but no phase.
local specValid = condition("SpecValid")
if specValid ~= nil and specValid.status == "False" then
  hs.status = "Degraded"
  hs.message = specValid.reason .. ": " .. (specValid.message or "")
  return hs
end

-- A hold the controller reports on Ready (a write the apiserver keeps refusing, a status it
-- cannot read) also waits for a person, whatever the phase says it was doing.
local HOLDS = { WriteRefused = true, StatusUnreadable = true }
local ready = condition("Ready")
if ready ~= nil and ready.status == "False" and HOLDS[ready.reason] then
  hs.status = "Degraded"
  hs.message = ready.reason .. ": " .. (ready.message or "")
  return hs
end

if obj.status == nil or obj.status.phase == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the Fledge controller to report status"
  return hs
end

local phase = obj.status.phase
local message = obj.status.message or phase
if phase == "Healthy" then
  hs.status = "Healthy"
elseif phase == "Paused" then
  hs.status = "Suspended"
elseif phase == "Failed" or phase == "Aborted" then
  hs.status = "Degraded"
else
  -- Initializing, Progressing, Promoting, RollingBack
  hs.status = "Progressing"
end
hs.message = phase .. ": " .. message
return hs
