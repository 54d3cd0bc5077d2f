// LDMSeg module.
