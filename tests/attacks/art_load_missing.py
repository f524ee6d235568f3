# attack: load a missing artifact, to read the storage's host path from the error (it used to be there)
# held: ArtifactNotFoundError naming the artifact, not the directory
# expect: error ArtifactNotFoundError
artifacts.load("definitely_missing_zz/deeper")
