from shared.serve import serve

serve("partners")
